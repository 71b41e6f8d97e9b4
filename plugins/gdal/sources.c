/*
 * sources.c — reading a pixel function's source buffers and writing its output buffer.
 *
 * GDAL passes one packed buffer per source, in the transfer type, and the output buffer with
 * its own type and spacing. A pixel function sees no source metadata, so source nodata travels
 * as the nodata= argument (written by `cropnet vrt` from the image's bands); a pixel is invalid
 * when any source holds its nodata value or a NaN/Inf — the rule cn_raster_read applies, so a
 * VRT and `cropnet classify` agree on which pixels are classified. Values are compared in the
 * transfer type's precision: with SourceTransferType Float32, a Float64 band's nodata is
 * compared as the float it becomes in transfer.
 */
#include "plugin.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool cnp_parse_double(const char *text, double *value)
{
    char *end;
    while (*text == ' ')
        text++;
    if (!*text)
        return false;
    double v = CPLStrtod(text, &end); /* locale-independent, takes "nan" */
    while (*end == ' ')
        end++;
    if (*end)
        return false;
    *value = v;
    return true;
}

CPLErr cnp_fail(const char *who)
{
    CPLError(CE_Failure, CPLE_AppDefined, "%s: %s", who, cn_last_error());
    return CE_Failure;
}

/* Parses "v" or "v1,v2,..." (empty entries: none) into nodata[0..n-1]. */
static cn_status parse_nodata(const char *arg, int n, double *nodata)
{
    char **items = CSLTokenizeString2(arg, ",", CSLT_ALLOWEMPTYTOKENS | CSLT_STRIPLEADSPACES |
                                                   CSLT_STRIPENDSPACES);
    int count = CSLCount(items);
    cn_status st = CN_OK;
    if (count != 1 && count != n) {
        st = cn_set_error(CN_EINVAL, "nodata=%s: gives %d values for %d sources (give one for "
                          "all, or one per source)", arg, count, n);
    }
    for (int i = 0; !st && i < n; i++) {
        const char *item = items[count == 1 ? 0 : i];
        if (!*item)
            nodata[i] = NAN; /* none for this source */
        else if (!cnp_parse_double(item, &nodata[i]))
            st = cn_set_error(CN_EINVAL, "nodata=%s: '%s' is not a number", arg, item);
    }
    CSLDestroy(items);
    return st;
}

cn_status cnp_sources_init(cnp_sources *s, void **buf, int nsources, GDALDataType type,
                           int width, int height, const char *nodata_arg)
{
    memset(s, 0, sizeof *s);
    s->buf = buf;
    s->nsources = nsources;
    s->type = type;
    s->width = width;
    s->height = height;
    if (GDALDataTypeIsComplex(type))
        return cn_set_error(CN_EINVAL, "complex source values (%s) are not supported: set "
                            "<SourceTransferType>Float32</SourceTransferType>",
                            GDALGetDataTypeName(type));
    if (GDALGetDataTypeSizeBytes(type) <= 0)
        return cn_set_error(CN_EINVAL, "unknown source data type");
    if (!nodata_arg || nsources < 1)
        return CN_OK;
    s->nodata = malloc((size_t)nsources * sizeof *s->nodata);
    if (!s->nodata)
        return cn_set_error(CN_ENOMEM, "out of memory");
    s->has_nodata = true;
    return parse_nodata(nodata_arg, nsources, s->nodata);
}

void cnp_sources_free(cnp_sources *s)
{
    free(s->nodata);
    s->nodata = NULL;
}

/* The value a nodata value takes in the transfer type, as a double (for the comparison). */
static double in_transfer_precision(const cnp_sources *s, double nodata)
{
    if (s->type != GDT_Float32 || isnan(nodata))
        return nodata; /* integer types and Float64 arrive exact: compare as given */
    if (nodata > FLT_MAX || nodata < -FLT_MAX)
        return isinf(nodata) ? nodata : (nodata > 0 ? FLT_MAX : -FLT_MAX);
    return (double)(float)nodata;
}

/* Converts and checks in chunks: GDALCopyWords does the conversion, one chunk of doubles at a
 * time on the stack. */
#define CHUNK 512

void cnp_sources_read_double(const cnp_sources *s, int src, int64_t first, int64_t count,
                             double *out, int64_t stride, uint8_t *valid)
{
    int size = GDALGetDataTypeSizeBytes(s->type);
    const GByte *in = (const GByte *)s->buf[src] + first * size;
    double nd = s->has_nodata ? in_transfer_precision(s, s->nodata[src]) : NAN;
    bool check_nd = !isnan(nd);
    bool floating = GDALDataTypeIsFloating(s->type);
    GDALCopyWords64(in, s->type, size, out, GDT_Float64, (int)(stride * sizeof(double)),
                    count);
    if (!valid || (!check_nd && !floating))
        return;
    for (int64_t i = 0; i < count; i++) {
        double v = out[i * stride];
        if ((floating && !isfinite(v)) || (check_nd && v == nd))
            valid[i] = 0;
    }
}

void cnp_sources_read(const cnp_sources *s, int src, int64_t first, int64_t count, float *out,
                      int64_t stride, uint8_t *valid)
{
    double tmp[CHUNK];
    for (int64_t done = 0; done < count; done += CHUNK) {
        int64_t n = count - done < CHUNK ? count - done : CHUNK;
        cnp_sources_read_double(s, src, first + done, n, tmp, 1, valid ? valid + done : NULL);
        float *o = out + done * stride;
        for (int64_t i = 0; i < n; i++) {
            double v = tmp[i];
            /* Out-of-range doubles become ±inf explicitly (the C conversion is undefined). */
            o[i * stride] = v > FLT_MAX ? INFINITY : v < -FLT_MAX ? -INFINITY : (float)v;
        }
    }
}

void cnp_output_write(const cnp_output *o, int64_t first, int64_t count, const double *values)
{
    while (count > 0) {
        int64_t row = first / o->width, col = first % o->width;
        int64_t run = o->width - col < count ? o->width - col : count;
        GByte *dst = (GByte *)o->data + row * o->line_space + col * o->pixel_space;
        GDALCopyWords64(values, GDT_Float64, sizeof(double), dst, o->type, o->pixel_space, run);
        values += run;
        first += run;
        count -= run;
    }
}
