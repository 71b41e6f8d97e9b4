/*
 * raster_impl.h — the cn_raster object shared by raster.c (opening, metadata, grids) and
 * raster_read.c (windows of pixels and labels), and the writer's band for labelmap.c. Not part
 * of the public API.
 */
#ifndef CROPNET_RASTER_IMPL_H
#define CROPNET_RASTER_IMPL_H

#include "cn_gdal.h"

#include <stdio.h>
#include <string.h>

typedef struct cn_raster_band {
    GDALRasterBandH h;   /* borrowed from the dataset */
    GDALDataType type;   /* the band's own type */
    bool has_nodata;     /* a nodata value is set */
    double nodata;       /* as GDAL reports it */
    float nodata_f;      /* nodata in float32, compared with float-exact bands */
    bool exact_float;    /* every value of the type is exact in float32 */
    bool can_be_nonfinite; /* a floating-point type: NaN/Inf possible */
} cn_raster_band;

struct cn_raster {
    GDALDatasetH ds;      /* owned, read-only */
    char *path;           /* owned copy of the opened path */
    int width, height, nbands;
    double gt[6];         /* geotransform, GDAL's default when has_gt is false */
    bool has_gt;
    char *wkt;            /* owned; "" when no CRS */
    cn_raster_band *bands;/* nbands entries */
    GDALDataType common;  /* the type every band shares, GDT_Unknown when they differ */
    bool direct_pixels;   /* an uncompressed pixel-interleaved GeoTIFF read with direct I/O:
                             windows are read pixel-interleaved in one call */
    void *scratch;        /* band-sequential chunk of the other layouts (owned) */
    size_t scratch_size;  /* bytes allocated at scratch */
};

/* Rewrites the current error as "prefix: rest", where rest is the message without a leading
 * strip (may be NULL); returns status. The message is copied first: it is the buffer that
 * cn_set_error writes. */
static inline cn_status cn_error_prefix(cn_status status, const char *prefix, const char *strip)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cn_last_error());
    const char *rest = msg;
    if (strip && strncmp(rest, strip, strlen(strip)) == 0)
        rest += strlen(strip);
    return cn_set_error(status, "%s: %s", prefix, rest);
}

/* The GDAL band of a raster being written (raster_write.c), for the label map's colour table and
 * category names; NULL with an error set when band is out of range. */
GDALRasterBandH cn_raster_writer_band(cn_raster_writer *w, int band);

#endif
