/*
 * samples.c — the labelled pixels of an image as a training matrix, and per-band statistics.
 *
 * Two passes over the label raster: the first counts the labelled pixels (so X is allocated once,
 * at its final size, and the image strips without a labelled pixel are never read), the second
 * reads the image in full-width row strips and copies the labelled, valid pixels. Memory is the
 * samples plus one strip, whatever the scene size.
 */
#include "cn_labels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cn_samples_free(cn_samples *s)
{
    cn_tensor_release(s->x);
    cn_tensor_release(s->y);
    free(s->rows);
    free(s->cols);
    free(s->classes);
    memset(s, 0, sizeof *s);
}

/* Counts labelled pixels per row into row_counts (height entries) and in total. */
static cn_status count_labelled(cn_raster *lab, int32_t *strip, int strip_rows,
                                int32_t *row_counts, int64_t *total)
{
    int w = cn_raster_width(lab), height = cn_raster_height(lab);
    *total = 0;
    for (int y0 = 0; y0 < height; y0 += strip_rows) {
        int h = height - y0 < strip_rows ? height - y0 : strip_rows;
        cn_status st = cn_labels_read_rows(lab, y0, h, strip);
        if (st)
            return st;
        for (int r = 0; r < h; r++) {
            int32_t n = 0;
            for (int c = 0; c < w; c++)
                n += strip[(size_t)r * (size_t)w + (size_t)c] > 0;
            row_counts[y0 + r] = n;
            *total += n;
        }
    }
    return CN_OK;
}

/* Copies the labelled, valid pixels of the image into s (y holds raw ids for now). */
static cn_status gather(cn_raster *img, cn_raster *lab, const int32_t *row_counts, cn_samples *s)
{
    int w = cn_raster_width(lab), height = cn_raster_height(lab), bands = s->bands;
    size_t px_bytes = (size_t)bands * sizeof(float);
    int strip_rows = cn_strip_rows(w, height, px_bytes + 1 + sizeof(int32_t) + sizeof(double));
    size_t strip_px = (size_t)w * (size_t)strip_rows;
    float *pixels = NULL;
    uint8_t *valid = malloc(strip_px);
    int32_t *ids = malloc(strip_px * sizeof *ids);
    cn_status st = CN_OK;
    if (!valid || !ids || strip_px > SIZE_MAX / px_bytes || !(pixels = malloc(strip_px * px_bytes)))
        st = cn_set_error(CN_ENOMEM, "%s: out of memory for a strip of %d rows",
                          cn_raster_path(img), strip_rows);
    float *x = st ? NULL : cn_tensor_data(s->x), *y = st ? NULL : cn_tensor_data(s->y);
    int64_t n = 0;
    for (int y0 = 0; !st && y0 < height; y0 += strip_rows) {
        int h = height - y0 < strip_rows ? height - y0 : strip_rows;
        int64_t labelled = 0;
        for (int r = 0; r < h; r++)
            labelled += row_counts[y0 + r];
        if (labelled == 0) /* strips without a label are never read from the image */
            continue;
        if ((st = cn_labels_read_rows(lab, y0, h, ids)) ||
            (st = cn_raster_read(img, 0, y0, w, h, pixels, valid)))
            break;
        for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
            if (ids[i] <= 0)
                continue;
            if (!valid[i]) {
                s->skipped++;
                continue;
            }
            memcpy(x + (size_t)n * (size_t)bands, pixels + i * (size_t)bands, px_bytes);
            y[n] = (float)ids[i];
            s->rows[n] = y0 + (int32_t)(i / (size_t)w);
            s->cols[n] = (int32_t)(i % (size_t)w);
            n++;
        }
    }
    s->count = n;
    free(ids);
    free(valid);
    free(pixels);
    return st;
}

/* The classes present in y (raw ids), and y turned into 0-based indices into them. */
static cn_status index_classes(cn_raster *lab, cn_samples *s)
{
    int *index = calloc(65536, sizeof *index); /* id -> 1 + class index, 0 when absent */
    if (!index)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", cn_raster_path(lab));
    float *y = cn_tensor_data(s->y);
    for (int64_t i = 0; i < s->count; i++)
        index[(int)y[i]] = 1;
    size_t k = 0;
    for (int id = 1; id < 65536; id++)
        k += index[id] != 0;
    s->classes = calloc(k ? k : 1, sizeof *s->classes);
    if (!s->classes) {
        free(index);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", cn_raster_path(lab));
    }
    for (int id = 1; id < 65536; id++)
        if (index[id]) {
            cn_labels_class(lab, id, &s->classes[s->nclasses]);
            index[id] = (int)++s->nclasses;
        }
    for (int64_t i = 0; i < s->count; i++)
        y[i] = (float)(index[(int)y[i]] - 1);
    free(index);
    return CN_OK;
}

cn_status cn_samples_from_rasters(const char *image_path, const char *labels_path, cn_samples *out)
{
    memset(out, 0, sizeof *out);
    cn_raster *img = NULL, *lab = NULL;
    int32_t *row_counts = NULL, *strip = NULL;
    cn_status st = cn_raster_open(image_path, &img);
    if (!st)
        st = cn_labels_open(labels_path, &lab);
    if (!st)
        st = cn_grid_check(img, "the image", lab);
    int w = st ? 0 : cn_raster_width(lab), height = st ? 0 : cn_raster_height(lab);
    int strip_rows = st ? 0 : cn_strip_rows(w, height, sizeof(int32_t) + sizeof(double));
    if (!st && (!(row_counts = malloc((size_t)height * sizeof *row_counts))
                || !(strip = malloc((size_t)w * (size_t)strip_rows * sizeof *strip))))
        st = cn_set_error(CN_ENOMEM, "%s: out of memory", labels_path);
    int64_t labelled = 0;
    if (!st)
        st = count_labelled(lab, strip, strip_rows, row_counts, &labelled);
    free(strip);
    if (!st && labelled == 0)
        st = cn_set_error(CN_EINVAL, "%s: has no labelled pixel (every value is 0 or nodata)",
                          labels_path);
    if (!st && (size_t)labelled > SIZE_MAX / sizeof(int32_t))
        st = cn_set_error(CN_EOVERFLOW, "%s: too many labelled pixels", labels_path);
    if (!st) {
        out->bands = cn_raster_bands(img);
        st = cn_tensor_new2(labelled, out->bands, &out->x);
    }
    if (!st)
        st = cn_tensor_new(1, &labelled, &out->y);
    if (!st && (!(out->rows = malloc((size_t)labelled * sizeof(int32_t)))
                || !(out->cols = malloc((size_t)labelled * sizeof(int32_t)))))
        st = cn_set_error(CN_ENOMEM, "%s: out of memory for %lld samples", labels_path,
                          (long long)labelled);
    if (!st)
        st = gather(img, lab, row_counts, out);
    if (!st && out->count == 0)
        st = cn_set_error(CN_EINVAL, "%s: none of the %lld labelled pixels is valid in the image "
                          "%s (nodata, NaN or Inf)", labels_path, (long long)labelled, image_path);
    if (!st)
        st = index_classes(lab, out);
    if (!st) {
        int64_t dims[2] = {out->count, out->bands};
        st = cn_tensor_resize(out->x, 2, dims); /* shrinking keeps the storage */
        if (!st)
            st = cn_tensor_resize(out->y, 1, dims);
    }
    free(row_counts);
    cn_raster_close(lab);
    cn_raster_close(img);
    if (st)
        cn_samples_free(out);
    return st;
}

cn_status cn_band_stats(const cn_tensor *x, cn_tensor *mean, cn_tensor *std)
{
    if (cn_tensor_ndim(x) != 2 || cn_tensor_dim(x, 0) < 1)
        return cn_set_error(CN_EINVAL, "band statistics: expected an N x C matrix with N >= 1");
    int64_t n = cn_tensor_dim(x, 0), c = cn_tensor_dim(x, 1);
    cn_status st = cn_tensor_resize(mean, 1, &c);
    if (!st)
        st = cn_tensor_resize(std, 1, &c);
    double *acc = st ? NULL : calloc((size_t)(c ? c : 1), 2 * sizeof *acc);
    if (st || !acc)
        return st ? st : cn_set_error(CN_ENOMEM, "band statistics: out of memory");
    double *sum = acc, *sq = acc + c;
    const float *p = cn_tensor_cdata(x);
    /* two passes (mean, then squared deviations) in double: no cancellation on bands whose
     * spread is small next to their level, as reflectance counts often are */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < c; j++)
            sum[j] += p[i * c + j];
    for (int64_t j = 0; j < c; j++)
        sum[j] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < c; j++) {
            double d = p[i * c + j] - sum[j];
            sq[j] += d * d;
        }
    float *m = cn_tensor_data(mean), *s = cn_tensor_data(std);
    for (int64_t j = 0; j < c; j++) {
        double sd = sqrt(sq[j] / (double)n);
        m[j] = (float)sum[j];
        s[j] = sd > 0 && (float)sd > 0 ? (float)sd : 1.0f;
    }
    free(acc);
    return CN_OK;
}
