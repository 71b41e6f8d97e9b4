/*
 * scene_tiff.c — the GeoTIFFs the importer and the synthetic scene write: any GDAL data type,
 * any band count, created under a temporary name and renamed into place when complete.
 *
 * Cubes are pixel-interleaved: the per-pixel models read every band of a window at once, and in a
 * pixel-interleaved tile those values sit together, so one tile decompression serves all bands
 * (band interleaving would cost one per band and tile). Writers fill whole tiles (all bands) at a
 * time, so GDAL never has to read a tile back. DEFLATE with the horizontal predictor suits
 * smooth integer reflectances; floats get the floating-point predictor.
 */
#include "scene_impl.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

cn_status scene_tiff_create(const char *path, const char *const *inputs, int64_t width,
                            int64_t height, int64_t bands, GDALDataType type,
                            const char *const *extra_options, const double *gt, const char *wkt,
                            scene_tiff *t)
{
    memset(t, 0, sizeof *t);
    cn_gdal_init();
    if (width < 1 || height < 1 || width > INT_MAX || height > INT_MAX)
        return cn_set_error(CN_EINVAL, "%s: %lld x %lld pixels is not a size a GeoTIFF can have",
                            path, (long long)width, (long long)height);
    if (bands < 1 || bands > 65535)
        return cn_set_error(CN_EINVAL, "%s: %lld bands; a GeoTIFF holds 1 to 65535", path,
                            (long long)bands);
    cn_status st = cn_output_begin(path, inputs, &t->out);
    if (st)
        return st;
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    if (!drv) {
        cn_output_abort(&t->out);
        return cn_set_error(CN_EIO, "%s: GDAL has no GTiff driver", path);
    }
    bool is_float = type == GDT_Float32 || type == GDT_Float64;
    char **opts = NULL;
    opts = CSLSetNameValue(opts, "TILED", "YES");
    opts = CSLSetNameValue(opts, "BLOCKXSIZE", "256");
    opts = CSLSetNameValue(opts, "BLOCKYSIZE", "256");
    opts = CSLSetNameValue(opts, "COMPRESS", "DEFLATE");
    opts = CSLSetNameValue(opts, "PREDICTOR", is_float ? "3" : "2");
    opts = CSLSetNameValue(opts, "INTERLEAVE", "PIXEL");
    opts = CSLSetNameValue(opts, "BIGTIFF", "IF_SAFER");
    opts = CSLSetNameValue(opts, "NUM_THREADS", "ALL_CPUS");
    for (size_t i = 0; extra_options && extra_options[i]; i++) {
        char *key = NULL;
        const char *value = CPLParseNameValue(extra_options[i], &key);
        if (key && value)
            opts = CSLSetNameValue(opts, key, value); /* replaces a default of the same name */
        CPLFree(key);
    }
    CPLErrorReset();
    t->ds = GDALCreate(drv, t->out.temp_path, (int)width, (int)height, (int)bands, type, opts);
    CSLDestroy(opts);
    if (!t->ds) {
        st = cn_gdal_fail(CN_EIO, path, "cannot create the GeoTIFF");
        cn_output_abort(&t->out);
        return st;
    }
    if ((gt && GDALSetGeoTransform(t->ds, (double *)gt) != CE_None) ||
        (wkt && *wkt && GDALSetProjection(t->ds, wkt) != CE_None)) {
        st = cn_gdal_fail(CN_EIO, path, "cannot set the georeference");
        scene_tiff_abort(t);
    }
    return st;
}

cn_status scene_tiff_commit(scene_tiff *t)
{
    /* GDAL 3.6's close returns nothing: a failed flush shows only as a recorded error */
    CPLErrorReset();
    GDALClose(t->ds);
    t->ds = NULL;
    if (CPLGetLastErrorType() >= CE_Failure) {
        cn_status st = cn_gdal_fail(CN_EIO, t->out.path, "cannot finish writing the GeoTIFF");
        cn_output_abort(&t->out);
        return st;
    }
    return cn_output_commit(&t->out);
}

void scene_tiff_abort(scene_tiff *t)
{
    if (t->ds) {
        GDALClose(t->ds);
        t->ds = NULL;
    }
    cn_output_abort(&t->out);
}
