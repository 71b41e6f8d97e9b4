/*
 * raster_read.c — windows of a raster as pixel-interleaved float32 with a validity mask, the same
 * with reflection past the edges (the halo of neighbourhood models), and windows of labels.
 *
 * Uncompressed pixel-interleaved GeoTIFFs are read in one call in the file's layout; other
 * sources band-sequentially in chunks of rows, interleaved here (see read_chunked). Types
 * that float32 holds exactly (Byte, (U)Int16, Float32) compare with their nodata value in float;
 * the others (32/64-bit integers, Float64) may round in float, so for those bands that have a
 * nodata value the window is read again in Float64 to decide validity exactly.
 */
#include "raster_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cn_status check_window(const cn_raster *r, int x, int y, int w, int h)
{
    if (w < 1 || h < 1 || x < 0 || y < 0 || (int64_t)x + w > r->width ||
        (int64_t)y + h > r->height)
        return cn_set_error(CN_EINVAL, "%s: window (x %d, y %d, %d x %d) is not inside the raster "
                            "(%d x %d)", r->path, x, y, w, h, r->width, r->height);
    return CN_OK;
}

/* Marks invalid the pixels whose band b equals its nodata value, compared in Float64. */
static cn_status mask_exact(cn_raster *r, int b, int x, int y, int w, int h, uint8_t *valid)
{
    size_t n = (size_t)w * (size_t)h;
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", r->path);
    CPLErrorReset();
    if (GDALRasterIO(r->bands[b].h, GF_Read, x, y, w, h, tmp, w, h, GDT_Float64, 0, 0) != CE_None) {
        free(tmp);
        return cn_gdal_fail(CN_EIO, r->path, "cannot read pixels");
    }
    double nd = r->bands[b].nodata;
    for (size_t i = 0; i < n; i++)
        if (tmp[i] == nd)
            valid[i] = 0;
    free(tmp);
    return CN_OK;
}

/* Widens n values of type t (Byte, UInt16, Int16) at raw to float at out. raw lies at the tail of
 * out's own storage (see read_pixels): each chunk is copied out before its floats are written,
 * and a chunk's floats end before the next chunk's values begin. */
static void widen(const unsigned char *raw, GDALDataType t, size_t n, float *out)
{
    enum { CHUNK = 1024 };
    const size_t size = t == GDT_Byte ? 1 : 2;
    union {
        uint8_t u8[CHUNK];
        uint16_t u16[CHUNK];
        int16_t i16[CHUNK];
    } tmp;
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        memcpy(&tmp, raw + i * size, m * size);
        float *o = out + i;
        if (t == GDT_Byte)
            for (size_t j = 0; j < m; j++)
                o[j] = tmp.u8[j];
        else if (t == GDT_UInt16)
            for (size_t j = 0; j < m; j++)
                o[j] = tmp.u16[j];
        else
            for (size_t j = 0; j < m; j++)
                o[j] = tmp.i16[j];
    }
}

/* The sample type and size a window is read in: the bands' own type when every band is Byte,
 * (U)Int16 or Float32 (converted here, faster than GDAL's strided conversion), else Float32. */
static GDALDataType read_type(const cn_raster *r, int *size)
{
    GDALDataType t = r->common;
    *size = t == GDT_Byte ? 1 : (t == GDT_UInt16 || t == GDT_Int16) ? 2 : 4;
    return *size < 4 || t == GDT_Float32 ? t : GDT_Float32;
}

/* An uncompressed pixel-interleaved GeoTIFF: one direct read in the file's own layout into the
 * tail of the buffer, widened in place. */
static cn_status read_direct(cn_raster *r, int x, int y, int w, int h, float *pixels)
{
    const int nb = r->nbands;
    const size_t n = (size_t)w * (size_t)h * (size_t)nb;
    int size;
    GDALDataType t = read_type(r, &size);
    unsigned char *raw = (unsigned char *)pixels + n * (size_t)(4 - size);
    GSpacing pixel = (GSpacing)nb * size, line = (GSpacing)w * pixel;
    CPLErrorReset();
    if (GDALDatasetRasterIOEx(r->ds, GF_Read, x, y, w, h, raw, w, h, t, nb, NULL, pixel, line,
                              size, NULL) != CE_None)
        return cn_gdal_fail(CN_EIO, r->path, "cannot read pixels");
    if (size < 4)
        widen(raw, t, n, pixels);
    return CN_OK;
}

/* dst[i·nb + b] = planes[b·n + i] for i < n: a chunk of band-sequential values of type T made
 * pixel-interleaved floats, in blocks of 64 pixels × 16 bands so that each pixel's 16 floats fill
 * a cache line at once while the 16 source rows stay in L1 (three times faster than band by
 * band). */
#define INTERLEAVE(T)                                                                         \
    do {                                                                                      \
        const T *src = (const T *)planes;                                                     \
        for (size_t i0 = 0; i0 < n; i0 += 64) {                                               \
            size_t i1 = n - i0 < 64 ? n : i0 + 64;                                            \
            for (size_t b0 = 0; b0 < nb; b0 += 16) {                                          \
                size_t b1 = nb - b0 < 16 ? nb : b0 + 16;                                      \
                for (size_t i = i0; i < i1; i++) {                                            \
                    float *d = dst + i * nb;                                                  \
                    for (size_t b = b0; b < b1; b++)                                          \
                        d[b] = (float)src[b * n + i];                                         \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    } while (0)

static void interleave(const void *planes, GDALDataType t, size_t n, size_t nb, float *dst)
{
    if (t == GDT_Byte)
        INTERLEAVE(uint8_t);
    else if (t == GDT_UInt16)
        INTERLEAVE(uint16_t);
    else if (t == GDT_Int16)
        INTERLEAVE(int16_t);
    else
        INTERLEAVE(float);
}

#define CHUNK_BYTES (4u << 20) /* band-sequential chunk: 4 MiB, or one row of the window */

/* Any other layout (band-interleaved files, VRTs, compressed GeoTIFFs, ...): GDAL reads every
 * band contiguously into a band-sequential chunk of rows, which is interleaved here. Asking GDAL
 * for pixel-interleaved floats directly costs two to three times more on such sources. */
static cn_status read_chunked(cn_raster *r, int x, int y, int w, int h, float *pixels)
{
    const size_t nb = (size_t)r->nbands;
    int size;
    GDALDataType t = read_type(r, &size);
    const size_t row = (size_t)w * nb * (size_t)size;
    int rows = row >= CHUNK_BYTES ? 1 : (int)(CHUNK_BYTES / row);
    if (rows > h)
        rows = h;
    size_t need = row * (size_t)rows;
    if (need > r->scratch_size) {
        void *p = realloc(r->scratch, need);
        if (!p)
            return cn_set_error(CN_ENOMEM, "%s: out of memory", r->path);
        r->scratch = p;
        r->scratch_size = need;
    }
    for (int y0 = 0; y0 < h; y0 += rows) {
        int ch = h - y0 < rows ? h - y0 : rows;
        size_t n = (size_t)w * (size_t)ch;
        CPLErrorReset();
        if (GDALDatasetRasterIOEx(r->ds, GF_Read, x, y + y0, w, ch, r->scratch, w, ch, t,
                                  (int)nb, NULL, size, (GSpacing)w * size,
                                  (GSpacing)n * (GSpacing)size, NULL) != CE_None)
            return cn_gdal_fail(CN_EIO, r->path, "cannot read pixels");
        interleave(r->scratch, t, n, nb, pixels + (size_t)y0 * (size_t)w * nb);
    }
    return CN_OK;
}

cn_status cn_raster_read(cn_raster *r, int x, int y, int w, int h, float *pixels, uint8_t *valid)
{
    cn_status st = check_window(r, x, y, w, h);
    if (st)
        return st;
    cn_gdal_init();
    const int nb = r->nbands;
    st = r->direct_pixels || nb == 1 ? read_direct(r, x, y, w, h, pixels)
                                     : read_chunked(r, x, y, w, h, pixels);
    if (st)
        return st;
    if (!valid)
        return CN_OK;
    size_t n = (size_t)w * (size_t)h;
    memset(valid, 1, n);
    /* float-side checks: NaN/Inf for floating types, nodata for float-exact types */
    for (int b = 0; b < nb; b++) {
        const cn_raster_band *band = &r->bands[b];
        bool nd = band->has_nodata && band->exact_float && !isnan(band->nodata_f);
        bool fin = band->can_be_nonfinite;
        if (!nd && !fin)
            continue;
        float ndv = band->nodata_f;
        const float *p = pixels + b;
        for (size_t i = 0; i < n; i++, p += nb) {
            float v = *p;
            if ((nd && v == ndv) || (fin && !isfinite(v)))
                valid[i] = 0;
        }
    }
    for (int b = 0; b < nb; b++)
        if (r->bands[b].has_nodata && !r->bands[b].exact_float && !isnan(r->bands[b].nodata) &&
            (st = mask_exact(r, b, x, y, w, h, valid)))
            return st;
    return CN_OK;
}

/* Index i mirrored into [0, n) without repeating the edge (period 2n - 2). */
static int reflect(int64_t i, int n)
{
    if (n == 1)
        return 0;
    int64_t p = 2 * (int64_t)(n - 1), m = i % p;
    if (m < 0)
        m += p;
    return (int)(m < n ? m : p - m);
}

cn_status cn_raster_read_reflect(cn_raster *r, int x, int y, int w, int h, float *pixels,
                                 uint8_t *valid)
{
    if (w < 1 || h < 1 || (int64_t)x + w <= 0 || (int64_t)y + h <= 0 || x >= r->width ||
        y >= r->height)
        return cn_set_error(CN_EINVAL, "%s: window (x %d, y %d, %d x %d) does not meet the raster "
                            "(%d x %d)", r->path, x, y, w, h, r->width, r->height);
    if (x >= 0 && y >= 0 && (int64_t)x + w <= r->width && (int64_t)y + h <= r->height)
        return cn_raster_read(r, x, y, w, h, pixels, valid);
    /* Read the smallest rectangle holding every source pixel, then gather. */
    int *cols = malloc((size_t)w * sizeof *cols), *rows = malloc((size_t)h * sizeof *rows);
    cn_status st = CN_OK;
    float *src = NULL;
    uint8_t *srcv = NULL;
    if (!cols || !rows) {
        st = cn_set_error(CN_ENOMEM, "%s: out of memory", r->path);
        goto done;
    }
    int c0 = r->width, c1 = -1, r0 = r->height, r1 = -1;
    for (int i = 0; i < w; i++) {
        cols[i] = reflect((int64_t)x + i, r->width);
        c0 = cols[i] < c0 ? cols[i] : c0;
        c1 = cols[i] > c1 ? cols[i] : c1;
    }
    for (int j = 0; j < h; j++) {
        rows[j] = reflect((int64_t)y + j, r->height);
        r0 = rows[j] < r0 ? rows[j] : r0;
        r1 = rows[j] > r1 ? rows[j] : r1;
    }
    int sw = c1 - c0 + 1, sh = r1 - r0 + 1, nb = r->nbands;
    size_t sn = (size_t)sw * (size_t)sh; /* at most the raster's size, like the window's */
    src = malloc(sn * (size_t)nb * sizeof *src);
    srcv = valid ? malloc(sn) : NULL;
    if (!src || (valid && !srcv)) {
        st = cn_set_error(CN_ENOMEM, "%s: out of memory", r->path);
        goto done;
    }
    if ((st = cn_raster_read(r, c0, r0, sw, sh, src, srcv)))
        goto done;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            size_t s = (size_t)(rows[j] - r0) * (size_t)sw + (size_t)(cols[i] - c0);
            size_t d = (size_t)j * (size_t)w + (size_t)i;
            memcpy(pixels + d * (size_t)nb, src + s * (size_t)nb, (size_t)nb * sizeof *src);
            if (valid)
                valid[d] = srcv[s];
        }
done:
    free(cols);
    free(rows);
    free(src);
    free(srcv);
    return st;
}

cn_status cn_raster_read_labels(cn_raster *r, int x, int y, int w, int h, int32_t *out)
{
    cn_status st = check_window(r, x, y, w, h);
    if (st)
        return st;
    cn_gdal_init();
    size_t n = (size_t)w * (size_t)h;
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", r->path);
    const cn_raster_band *band = &r->bands[0];
    CPLErrorReset();
    if (GDALRasterIO(band->h, GF_Read, x, y, w, h, tmp, w, h, GDT_Float64, 0, 0) != CE_None) {
        free(tmp);
        return cn_gdal_fail(CN_EIO, r->path, "cannot read labels");
    }
    for (size_t i = 0; i < n; i++) {
        double v = tmp[i];
        if (band->has_nodata && (v == band->nodata || (isnan(v) && isnan(band->nodata)))) {
            out[i] = 0;
        } else if (!(v >= 0 && v <= CN_CLASS_ID_MAX && v == floor(v))) {
            st = cn_set_error(CN_EFORMAT, "%s: label %g at pixel (%d, %d): labels must be "
                              "integers in 0..%d", r->path, v, x + (int)(i % (size_t)w),
                              y + (int)(i / (size_t)w), CN_CLASS_ID_MAX);
            break;
        } else {
            out[i] = (int32_t)v;
        }
    }
    free(tmp);
    return st;
}
