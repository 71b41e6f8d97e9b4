/*
 * raster_write.c — new GeoTIFFs written atomically: created under a temporary name beside the
 * target (cn_output), renamed into place with their .aux.xml sidecar only once complete.
 *
 * Defaults suit crop maps and probability rasters (tiled 256 × 256, DEFLATE, BigTIFF when a file
 * may pass 4 GB); the caller's creation options override them one by one, and are validated
 * against the GTiff driver first, so a misspelt option is an error instead of a silent default.
 * GDAL 3.6's flush and close return nothing: failures are read from CPLGetLastErrorType.
 */
#include "cn_output.h"
#include "raster_impl.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <stdlib.h>
#include <string.h>

struct cn_raster_writer {
    cn_output out;     /* temporary and final paths */
    GDALDatasetH ds;   /* the dataset open at out.temp_path */
    int width, height, bands;
};

static const GDALDataType gdal_types[] = {GDT_Byte, GDT_UInt16, GDT_Int16, GDT_Int32,
                                          GDT_Float32};

/* The defaults overridden by the caller's options, in *out (CSLDestroy). */
static cn_status creation_options(const char *path, const char *const *user, char ***out)
{
    char **opts = NULL;
    *out = NULL;
    opts = CSLSetNameValue(opts, "TILED", "YES");
    opts = CSLSetNameValue(opts, "COMPRESS", "DEFLATE");
    opts = CSLSetNameValue(opts, "BLOCKXSIZE", "256");
    opts = CSLSetNameValue(opts, "BLOCKYSIZE", "256");
    opts = CSLSetNameValue(opts, "BIGTIFF", "IF_SAFER");
    for (size_t i = 0; user && user[i]; i++) {
        const char *eq = strchr(user[i], '=');
        if (!eq || eq == user[i]) {
            CSLDestroy(opts);
            return cn_set_error(CN_EINVAL, "%s: creation option '%s' is not NAME=VALUE", path,
                                user[i]);
        }
        char *name = strndup(user[i], (size_t)(eq - user[i]));
        if (!name) {
            CSLDestroy(opts);
            return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
        }
        opts = CSLSetNameValue(opts, name, eq + 1);
        /* a striped file has no block width; its strip height stays the caller's to set */
        if (EQUAL(name, "TILED") && !CPLTestBool(eq + 1))
            opts = CSLSetNameValue(opts, "BLOCKXSIZE", NULL);
        free(name);
    }
    *out = opts;
    return CN_OK;
}

cn_status cn_raster_writer_create(const char *path, const char *const *inputs, int width,
                                  int height, int bands, cn_sample_type type, cn_georef georef,
                                  const char *const *user_options, cn_raster_writer **out)
{
    if (!path || !out)
        return cn_set_error(CN_EINVAL, "raster writer: NULL argument");
    *out = NULL;
    if (width < 1 || height < 1 || bands < 1 || (unsigned)type > CN_SAMPLE_FLOAT32)
        return cn_set_error(CN_EINVAL, "%s: cannot create a raster of %d x %d pixels, %d band(s)",
                            path, width, height, bands);
    cn_gdal_init();
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    if (!drv)
        return cn_set_error(CN_EIO, "%s: GDAL has no GTiff driver", path);
    char **opts;
    cn_status st = creation_options(path, user_options, &opts);
    if (st)
        return st;
    CPLErrorReset();
    if (!GDALValidateCreationOptions(drv, (CSLConstList)opts)) {
        CSLDestroy(opts);
        return cn_gdal_fail(CN_EINVAL, path, "invalid creation option");
    }
    cn_raster_writer *w = calloc(1, sizeof *w);
    if (!w) {
        CSLDestroy(opts);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    }
    if ((st = cn_output_begin(path, inputs, &w->out))) {
        CSLDestroy(opts);
        free(w);
        return st;
    }
    w->width = width;
    w->height = height;
    w->bands = bands;
    CPLErrorReset();
    w->ds = GDALCreate(drv, w->out.temp_path, width, height, bands, gdal_types[type], opts);
    CSLDestroy(opts);
    if (!w->ds) {
        st = cn_gdal_fail(CN_EIO, path, "cannot create");
        cn_raster_writer_abort(w);
        return st;
    }
    if ((georef.geotransform &&
         GDALSetGeoTransform(w->ds, (double *)georef.geotransform) != CE_None) ||
        (georef.wkt && *georef.wkt && GDALSetProjection(w->ds, georef.wkt) != CE_None)) {
        st = cn_gdal_fail(CN_EIO, path, "cannot set the georeference");
        cn_raster_writer_abort(w);
        return st;
    }
    *out = w;
    return CN_OK;
}

static GDALRasterBandH band_of(cn_raster_writer *w, int band)
{
    if (band < 1 || band > w->bands) {
        cn_set_error(CN_EINVAL, "%s: no band %d (the raster has %d)", w->out.path, band, w->bands);
        return NULL;
    }
    return GDALGetRasterBand(w->ds, band);
}

cn_status cn_raster_writer_set_nodata(cn_raster_writer *w, int band, double nodata)
{
    GDALRasterBandH b = band_of(w, band);
    if (!b)
        return CN_EINVAL;
    CPLErrorReset();
    if (GDALSetRasterNoDataValue(b, nodata) != CE_None)
        return cn_gdal_fail(CN_EIO, w->out.path, "cannot set the nodata value");
    return CN_OK;
}

cn_status cn_raster_writer_set_description(cn_raster_writer *w, int band, const char *text)
{
    GDALRasterBandH b = band_of(w, band);
    if (!b)
        return CN_EINVAL;
    GDALSetDescription(b, text ? text : "");
    return CN_OK;
}

static cn_status check_window(cn_raster_writer *w, int x, int y, int width, int height)
{
    if (width < 1 || height < 1 || x < 0 || y < 0 || (int64_t)x + width > w->width ||
        (int64_t)y + height > w->height)
        return cn_set_error(CN_EINVAL, "%s: window (x %d, y %d, %d x %d) is not inside the raster "
                            "(%d x %d)", w->out.path, x, y, width, height, w->width, w->height);
    return CN_OK;
}

cn_status cn_raster_writer_write(cn_raster_writer *w, int x, int y, int width, int height,
                                 const float *pixels)
{
    cn_status st = check_window(w, x, y, width, height);
    if (st)
        return st;
    GSpacing pixel = (GSpacing)w->bands * 4, line = (GSpacing)width * pixel;
    CPLErrorReset();
    if (GDALDatasetRasterIOEx(w->ds, GF_Write, x, y, width, height, (void *)pixels, width, height,
                              GDT_Float32, w->bands, NULL, pixel, line, 4, NULL) != CE_None)
        return cn_gdal_fail(CN_EIO, w->out.path, "cannot write pixels");
    return CN_OK;
}

cn_status cn_raster_writer_write_int(cn_raster_writer *w, int x, int y, int width, int height,
                                     const int32_t *values)
{
    cn_status st = check_window(w, x, y, width, height);
    if (st)
        return st;
    if (w->bands != 1)
        return cn_set_error(CN_EINVAL, "%s: integer writes need a one-band raster (it has %d)",
                            w->out.path, w->bands);
    CPLErrorReset();
    if (GDALRasterIO(GDALGetRasterBand(w->ds, 1), GF_Write, x, y, width, height, (void *)values,
                     width, height, GDT_Int32, 0, 0) != CE_None)
        return cn_gdal_fail(CN_EIO, w->out.path, "cannot write pixels");
    return CN_OK;
}

cn_status cn_raster_writer_commit(cn_raster_writer *w)
{
    if (!w)
        return cn_set_error(CN_EINVAL, "raster writer: NULL argument");
    CPLErrorReset();
    GDALFlushCache(w->ds);
    bool failed = CPLGetLastErrorType() == CE_Failure;
    GDALClose(w->ds);
    w->ds = NULL;
    failed = failed || CPLGetLastErrorType() == CE_Failure;
    if (failed) {
        cn_status st = cn_gdal_fail(CN_EIO, w->out.path, "cannot finish writing");
        cn_raster_writer_abort(w);
        return st;
    }
    cn_status st = cn_output_commit(&w->out);
    free(w);
    return st;
}

void cn_raster_writer_abort(cn_raster_writer *w)
{
    if (!w)
        return;
    if (w->ds) {
        GDALClose(w->ds);
        CPLErrorReset();
    }
    cn_output_abort(&w->out);
    free(w);
}

GDALRasterBandH cn_raster_writer_band(cn_raster_writer *w, int band) { return band_of(w, band); }
