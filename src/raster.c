/*
 * raster.c — opening a raster with GDAL, its metadata, and the same-grid check.
 *
 * Everything a reader needs per band (type, nodata in both precisions) is looked up once at open,
 * so the per-window code in raster_read.c is plain loops. A file GDAL cannot open as a raster, or
 * one without bands or pixels, is refused at open with the path in the message.
 */
#include "raster_impl.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <errno.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Types whose every value converts to float32 exactly (so nodata can be compared in float). */
static bool exact_in_float(GDALDataType t)
{
    return t == GDT_Byte || t == GDT_UInt16 || t == GDT_Int16 || t == GDT_Float32 ||
           t == GDT_CInt16 || t == GDT_CFloat32;
}

static bool is_floating(GDALDataType t)
{
    return t == GDT_Float32 || t == GDT_Float64 || t == GDT_CFloat32 || t == GDT_CFloat64;
}

cn_status cn_raster_open(const char *path, cn_raster **out)
{
    if (!path || !out)
        return cn_set_error(CN_EINVAL, "raster: NULL argument");
    *out = NULL;
    cn_gdal_init();
    struct stat st;
    if (strncmp(path, "/vsi", 4) != 0) { /* GDAL's virtual paths have no stat */
        if (stat(path, &st) != 0) {
            if (errno == ENOENT)
                return cn_set_error(CN_EIO, "%s: no such file", path);
        } else if (S_ISDIR(st.st_mode)) {
            return cn_set_error(CN_EFORMAT, "%s: is a folder, not a raster GDAL can read", path);
        } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
            return cn_set_error(CN_EFORMAT, "%s: not a raster GDAL can read: the file is empty",
                                path);
        }
    }
    /* GTiff decides at open whether to read uncompressed pixels straight from the file instead
     * of through the block cache: several times faster for the whole-pixel windows read here
     * (and no cache to fill). A user's own GTIFF_DIRECT_IO setting wins. */
    bool direct = !CPLGetConfigOption("GTIFF_DIRECT_IO", NULL);
    if (direct)
        CPLSetThreadLocalConfigOption("GTIFF_DIRECT_IO", "YES");
    CPLErrorReset();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (direct)
        CPLSetThreadLocalConfigOption("GTIFF_DIRECT_IO", NULL);
    else
        direct = CPLTestBool(CPLGetConfigOption("GTIFF_DIRECT_IO", "NO"));
    if (!ds)
        return cn_gdal_fail(CN_EFORMAT, path, "not a raster GDAL can read");
    cn_raster *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        GDALClose(ds);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    }
    r->ds = ds;
    r->width = GDALGetRasterXSize(ds);
    r->height = GDALGetRasterYSize(ds);
    r->nbands = GDALGetRasterCount(ds);
    if (r->width <= 0 || r->height <= 0 || r->nbands <= 0) {
        cn_set_error(CN_EFORMAT, "%s: not a raster GDAL can read: it has %d x %d pixels and %d "
                     "band(s)", path, r->width, r->height, r->nbands);
        cn_raster_close(r);
        return CN_EFORMAT;
    }
    r->has_gt = GDALGetGeoTransform(ds, r->gt) == CE_None;
    if (!r->has_gt) {
        const double def[6] = {0, 1, 0, 0, 0, 1};
        memcpy(r->gt, def, sizeof def);
    }
    const char *wkt = GDALGetProjectionRef(ds);
    r->wkt = strdup(wkt ? wkt : "");
    r->bands = calloc((size_t)r->nbands, sizeof *r->bands);
    if (!r->wkt || !r->bands) {
        cn_raster_close(r);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    }
    for (int b = 0; b < r->nbands; b++) {
        cn_raster_band *band = &r->bands[b];
        band->h = GDALGetRasterBand(ds, b + 1);
        band->type = GDALGetRasterDataType(band->h);
        int has = 0;
        band->nodata = GDALGetRasterNoDataValue(band->h, &has);
        band->has_nodata = has != 0;
        band->nodata_f = (float)band->nodata; /* GDAL's own convention for Float32 bands */
        if (band->has_nodata && !isnan(band->nodata) && fabs(band->nodata) > 3.4028234663852886e38)
            band->nodata_f = band->nodata > 0 ? INFINITY : -INFINITY;
        band->exact_float = exact_in_float(band->type);
        band->can_be_nonfinite = is_floating(band->type);
        r->common = b == 0 || r->common == band->type ? band->type : GDT_Unknown;
    }
    GDALDriverH drv = GDALGetDatasetDriver(ds);
    const char *il = GDALGetMetadataItem(ds, "INTERLEAVE", "IMAGE_STRUCTURE");
    const char *comp = GDALGetMetadataItem(ds, "COMPRESSION", "IMAGE_STRUCTURE");
    r->direct_pixels = direct && drv && strcmp(GDALGetDriverShortName(drv), "GTiff") == 0 &&
                       il && EQUAL(il, "PIXEL") && (!comp || EQUAL(comp, "NONE"));

    CPLErrorReset();
    *out = r;
    return CN_OK;
}

void cn_raster_close(cn_raster *r)
{
    if (!r)
        return;
    if (r->ds)
        GDALClose(r->ds);
    free(r->bands);
    free(r->scratch);
    free(r->wkt);
    free(r->path);
    free(r);
}

const char *cn_raster_path(const cn_raster *r) { return r->path; }
int cn_raster_width(const cn_raster *r) { return r->width; }
int cn_raster_height(const cn_raster *r) { return r->height; }
int cn_raster_bands(const cn_raster *r) { return r->nbands; }
const char *cn_raster_wkt(const cn_raster *r) { return r->wkt; }

bool cn_raster_geotransform(const cn_raster *r, double gt[6])
{
    memcpy(gt, r->gt, 6 * sizeof *gt);
    return r->has_gt;
}

bool cn_raster_nodata(const cn_raster *r, int band, double *value)
{
    if (band < 1 || band > r->nbands || !r->bands[band - 1].has_nodata)
        return false;
    if (value)
        *value = r->bands[band - 1].nodata;
    return true;
}

const char *cn_raster_band_type(const cn_raster *r, int band)
{
    if (band < 1 || band > r->nbands)
        return NULL;
    return GDALGetDataTypeName(r->bands[band - 1].type);
}

const char *cn_raster_band_description(const cn_raster *r, int band)
{
    if (band < 1 || band > r->nbands)
        return "";
    const char *d = GDALGetDescription(r->bands[band - 1].h);
    return d ? d : "";
}

/* The name of a CRS for messages (owned by srs). */
static const char *crs_name(OGRSpatialReferenceH srs)
{
    const char *n = OSRGetName(srs);
    return n && *n ? n : "unnamed CRS";
}

static cn_status same_crs(const cn_raster *a, const cn_raster *b)
{
    if (!*a->wkt && !*b->wkt)
        return CN_OK;
    if (!*a->wkt || !*b->wkt)
        return cn_set_error(CN_EINVAL, "%s: %s a coordinate reference system, %s %s", b->path,
                            *b->wkt ? "has" : "has no", a->path, *a->wkt ? "has one" : "has none");
    OGRSpatialReferenceH sa = OSRNewSpatialReference(a->wkt);
    OGRSpatialReferenceH sb = OSRNewSpatialReference(b->wkt);
    cn_status st = CN_OK;
    if (!sa || !sb)
        st = cn_set_error(CN_EINVAL, "%s: cannot compare its CRS with %s's", b->path, a->path);
    else if (!OSRIsSame(sa, sb))
        st = cn_set_error(CN_EINVAL, "%s: its CRS (%s) differs from %s's (%s)", b->path,
                          crs_name(sb), a->path, crs_name(sa));
    OSRDestroySpatialReference(sa);
    OSRDestroySpatialReference(sb);
    CPLErrorReset();
    return st;
}

cn_status cn_raster_same_grid(const cn_raster *a, const cn_raster *b)
{
    if (a->width != b->width || a->height != b->height)
        return cn_set_error(CN_EINVAL, "%s: is %d x %d pixels, %s is %d x %d", b->path, b->width,
                            b->height, a->path, a->width, a->height);
    if (a->has_gt != b->has_gt)
        return cn_set_error(CN_EINVAL, "%s: %s a geotransform, %s %s", b->path,
                            b->has_gt ? "has" : "has no", a->path,
                            a->has_gt ? "has one" : "has none");
    /* Within a thousandth of a pixel anywhere in the grid: the origin directly, the pixel size
     * and rotation terms scaled by the raster's extent. */
    double pix = fmax(fmax(fabs(a->gt[1]), fabs(a->gt[2])), fmax(fabs(a->gt[4]), fabs(a->gt[5])));
    double tol0 = 1e-3 * pix, tol1 = tol0 / fmax(a->width, a->height);
    for (int i = 0; i < 6; i++) {
        double tol = (i == 0 || i == 3) ? tol0 : tol1;
        if (!(fabs(a->gt[i] - b->gt[i]) <= tol))
            return cn_set_error(CN_EINVAL, "%s: its geotransform (%.10g, %.10g, %.10g, %.10g, "
                                "%.10g, %.10g) differs from %s's (%.10g, %.10g, %.10g, %.10g, "
                                "%.10g, %.10g)", b->path, b->gt[0], b->gt[1], b->gt[2], b->gt[3],
                                b->gt[4], b->gt[5], a->path, a->gt[0], a->gt[1], a->gt[2],
                                a->gt[3], a->gt[4], a->gt[5]);
    }
    return same_crs(a, b);
}
