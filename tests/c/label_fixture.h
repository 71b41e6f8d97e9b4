/*
 * label_fixture.h — small images and label rasters for the samples, split and metrics tests,
 * made with GDAL's C API in a scratch folder $CROPNET_TMP/<name> (not the
 * test executable's own name, which is a file in that folder).
 */
#ifndef CROPNET_LABEL_FIXTURE_H
#define CROPNET_LABEL_FIXTURE_H

#include "cropnet.h"
#include "scratch.h"

#include <cpl_string.h>
#include <dirent.h>
#include <gdal.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define lf_dir scratch_dir

/* A fresh, empty scratch folder; GDAL's drivers registered. */
static inline void lf_init(const char *name)
{
    scratch_init(name);
    GDALAllRegister();
    CPLPushErrorHandler(CPLQuietErrorHandler);
}

static inline const char *lf_path(const char *name) { return scratch_path(name); }
static inline int lf_count_files(void) { return scratch_count_files(); }
static inline bool lf_exists(const char *path) { return scratch_exists(path); }

/* Georeference of the test rasters: UTM 33N, 10 m pixels, origin (500000, 4000000). */
static inline void lf_georef(GDALDatasetH ds, double x0)
{
    double gt[6] = {x0, 10, 0, 4000000, 0, -10};
    GDALSetGeoTransform(ds, gt);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32633);
    char *wkt = NULL;
    OSRExportToWkt(srs, &wkt);
    GDALSetProjection(ds, wkt);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);
}

/* A w × h × bands GeoTIFF of type type from pixel-interleaved values, georeferenced at x0 (no
 * georeference when x0 < 0), with a nodata value on every band when has_nodata. */
static inline void lf_image(const char *path, int w, int h, int bands, GDALDataType type,
                            const double *values, double x0, bool has_nodata, double nodata)
{
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, w, h, bands, type, NULL);
    if (x0 >= 0)
        lf_georef(ds, x0);
    for (int b = 0; b < bands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        if (has_nodata)
            GDALSetRasterNoDataValue(band, nodata);
        double *plane = malloc((size_t)w * h * sizeof *plane);
        for (int i = 0; i < w * h; i++)
            plane[i] = values[(size_t)i * bands + b];
        if (GDALRasterIO(band, GF_Write, 0, 0, w, h, plane, w, h, GDT_Float64, 0, 0) != CE_None)
            fprintf(stderr, "fixture: cannot write %s\n", path);
        free(plane);
    }
    GDALClose(ds);
}

/* A label raster (UInt16) with category names (names[id], NULL-terminated list, may be NULL)
 * and a colour table giving class id the colour (id, 2·id, 3·id). */
static inline void lf_labels(const char *path, int w, int h, const int *ids, double x0,
                             const char *const *names)
{
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, w, h, 1, GDT_UInt16, NULL);
    if (x0 >= 0)
        lf_georef(ds, x0);
    GDALRasterBandH band = GDALGetRasterBand(ds, 1);
    if (GDALRasterIO(band, GF_Write, 0, 0, w, h, (void *)ids, w, h, GDT_Int32, 0, 0) != CE_None)
        fprintf(stderr, "fixture: cannot write %s\n", path);
    if (names) {
        GDALSetRasterCategoryNames(band, (char **)names);
        GDALColorTableH ct = GDALCreateColorTable(GPI_RGB);
        for (int id = 0; names[id]; id++) {
            GDALColorEntry e = {(short)id, (short)(2 * id), (short)(3 * id), 255};
            GDALSetColorEntry(ct, id, &e);
        }
        GDALSetRasterColorTable(band, ct);
        GDALDestroyColorTable(ct);
    }
    GDALClose(ds);
}

/* Reads a one-band raster into ids (w·h values); returns false when it cannot be read. */
static inline bool lf_read(const char *path, int w, int h, int *ids)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return false;
    bool ok = GDALGetRasterXSize(ds) == w && GDALGetRasterYSize(ds) == h
              && GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, w, h, ids, w, h, GDT_Int32,
                              0, 0) == CE_None;
    GDALClose(ds);
    return ok;
}

/* Whether the message of the last failure contains text. */
static inline bool lf_error_has(const char *text) { return strstr(cn_last_error(), text) != NULL; }

#endif
