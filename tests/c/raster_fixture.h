/*
 * raster_fixture.h — small rasters and models for the raster, label-map and classify tests.
 *
 * The tests make their own inputs with GDAL's C API: a GeoTIFF of any type from float values, a
 * scratch folder under $CROPNET_TMP, file helpers; and a per-pixel model built with the core's C
 * API with the raster metadata (bands, classes, norm.*) set by hand.
 */
#ifndef CROPNET_RASTER_FIXTURE_H
#define CROPNET_RASTER_FIXTURE_H

#include "cropnet.h"
#include "scratch.h"

#include <cpl_conv.h>
#include <dirent.h>
#include <gdal.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define fixture_dir scratch_dir

/* A fresh, empty scratch folder; GDAL's drivers registered. */
static inline void fixture_init(const char *name)
{
    scratch_init(name);
    GDALAllRegister();
}

static inline const char *fixture_path(const char *name) { return scratch_path(name); }
static inline int fixture_count_files(void) { return scratch_count_files(); }
static inline bool fixture_exists(const char *path) { return scratch_exists(path); }

static inline void fixture_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static inline char *fixture_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = calloc(1, 1 << 20);
    if (s)
        s[fread(s, 1, (1 << 20) - 1, f)] = 0;
    fclose(f);
    return s;
}

static const double fixture_gt[6] = {500000.0, 30.0, 0.0, 4000000.0, 0.0, -30.0};

static inline char *fixture_wkt(int epsg)
{
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(s, epsg);
    char *wkt = NULL;
    OSRExportToWkt(s, &wkt);
    OSRDestroySpatialReference(s);
    return wkt; /* CPLFree */
}

/* A GeoTIFF (or another driver's file) w × h × bands of type from pixel-interleaved values,
 * UTM 32622 and fixture_gt; nodata (per band) when has_nodata. */
static inline void fixture_raster(const char *path, const char *driver, int w, int h, int bands,
                           GDALDataType type, const float *values, bool has_nodata, double nodata)
{
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName(driver), path, w, h, bands, type, NULL);
    if (!ds) {
        fprintf(stderr, "fixture: cannot create %s\n", path);
        exit(2);
    }
    GDALSetGeoTransform(ds, (double *)fixture_gt);
    char *wkt = fixture_wkt(32622);
    GDALSetProjection(ds, wkt);
    CPLFree(wkt);
    for (int b = 1; has_nodata && b <= bands; b++)
        GDALSetRasterNoDataValue(GDALGetRasterBand(ds, b), nodata);
    if (values && GDALDatasetRasterIO(ds, GF_Write, 0, 0, w, h, (void *)values, w, h, GDT_Float32,
                                      bands, NULL, bands * 4, w * bands * 4, 4) != CE_None) {
        fprintf(stderr, "fixture: cannot write %s\n", path);
        exit(2);
    }
    GDALClose(ds);
}

/* A per-pixel model: net, "bands", "classes" (given JSON), "input" pixel, norm tensors when
 * mean/std are given. */
static inline cn_model *fixture_model(cn_layer *net, int bands, const char *classes_json,
                               const float *mean, const float *std)
{
    cn_model *m = NULL;
    if (cn_model_new(net, &m))
        return NULL;
    char b[32];
    snprintf(b, sizeof b, "%d", bands);
    cn_model_set_meta(m, "bands", b);
    cn_model_set_meta(m, "classes", classes_json);
    cn_model_set_meta(m, "input", "pixel");
    cn_model_set_meta(m, "receptive_field", "1");
    if (mean && std) {
        int64_t n = bands;
        cn_tensor *tm, *ts;
        cn_tensor_new(1, &n, &tm);
        cn_tensor_new(1, &n, &ts);
        memcpy(cn_tensor_data(tm), mean, (size_t)bands * sizeof *mean);
        memcpy(cn_tensor_data(ts), std, (size_t)bands * sizeof *std);
        cn_model_set_tensor(m, "norm.mean", tm);
        cn_model_set_tensor(m, "norm.std", ts);
        cn_tensor_release(tm);
        cn_tensor_release(ts);
    }
    return m;
}

/* A linear layer in → out with weight[o·in + i] and bias[o] as given. */
static inline cn_layer *fixture_linear(int64_t in, int64_t out, const float *weight, const float *bias)
{
    cn_layer *l = NULL;
    cn_linear_new(in, out, &l);
    cn_tensor *p[2];
    cn_layer_params(l, p, NULL, 2);
    memcpy(cn_tensor_data(p[0]), weight, (size_t)(in * out) * sizeof *weight);
    memcpy(cn_tensor_data(p[1]), bias, (size_t)out * sizeof *bias);
    return l;
}

#endif
