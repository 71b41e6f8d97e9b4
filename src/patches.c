/*
 * patches.c — patches centred on given pixels read from a raster (N × C × P × P, reflect-padded
 * at the scene edge), the labelled pixels of a label raster as patches, and the per-band
 * statistics and standardisation of patch tensors.
 *
 * Reading: the positions are grouped by the square window of the scene they fall in (the window
 * side chosen so that a window and its halo hold about CN_PATCH_WINDOW_BYTES of pixels), and
 * each group reads only the bounding box of its positions plus the halo, with
 * cn_raster_read_reflect. So memory beyond the output is one window whatever the scene size, and
 * a sparse training set reads little of the scene.
 */
#include "patches_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cn_status check_patch(const char *what, int patch)
{
    if (patch < 1 || patch > CN_PATCH_MAX || patch % 2 == 0)
        return cn_set_error(CN_EINVAL, "%s: the patch side must be odd, in 1..%d (given %d)", what,
                            CN_PATCH_MAX, patch);
    return CN_OK;
}

/* A position with the window it falls in, sorted by window then by input order. */
typedef struct placed {
    int64_t window; /* by * nbx + bx */
    int64_t index;  /* i: the output slot */
} placed;

static int by_window(const void *pa, const void *pb)
{
    const placed *a = pa, *b = pb;
    if (a->window != b->window)
        return a->window < b->window ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Window side T: (T + P − 1)² pixels of C floats and a validity byte fit the budget. */
static int window_side(size_t budget, int bands, int patch, int width, int height)
{
    double px = (double)budget / (4.0 * bands + 1.0);
    double t = floor(sqrt(px)) - (patch - 1);
    int big = width > height ? width : height;
    return t < 1 ? 1 : t > big ? big : (int)t;
}

/* Copies the patches of positions list[0..count) out of the window buffer (origin x0, y0 in the
 * scene including the halo, ww pixels wide). */
static void cut(const float *win, const uint8_t *valid, int x0, int y0, int ww, int bands,
                int patch, const int32_t *rows, const int32_t *cols, const placed *list,
                int64_t count, float *out)
{
    const int64_t plane = (int64_t)patch * patch, per = plane * bands;
    for (int64_t k = 0; k < count; k++) {
        int64_t i = list[k].index;
        float *dst = out + i * per;
        int ty = rows[i] - patch / 2 - y0, tx = cols[i] - patch / 2 - x0;
        for (int dy = 0; dy < patch; dy++)
            for (int dx = 0; dx < patch; dx++) {
                int64_t q = (int64_t)(ty + dy) * ww + (tx + dx);
                const float *src = win + q * bands;
                float *d = dst + dy * patch + dx;
                if (valid[q])
                    for (int b = 0; b < bands; b++)
                        d[b * plane] = src[b];
                else
                    for (int b = 0; b < bands; b++)
                        d[b * plane] = NAN;
            }
    }
}

cn_status cn_patches_read(cn_raster *r, const int32_t *rows, const int32_t *cols, int64_t n,
                          int patch, cn_tensor *out)
{
    return cn_patches_read_budget(r, rows, cols, n, patch, CN_PATCH_WINDOW_BYTES, out);
}

cn_status cn_patches_read_budget(cn_raster *r, const int32_t *rows, const int32_t *cols,
                                 int64_t n, int patch, size_t window_bytes, cn_tensor *out)
{
    if (!r || !out || n < 0 || (n > 0 && (!rows || !cols)))
        return cn_set_error(CN_EINVAL, "patches: bad arguments");
    const char *path = cn_raster_path(r);
    cn_status st = check_patch(path, patch);
    if (st)
        return st;
    const int W = cn_raster_width(r), H = cn_raster_height(r), C = cn_raster_bands(r);
    for (int64_t i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= H || cols[i] < 0 || cols[i] >= W)
            return cn_set_error(CN_EINVAL, "%s: patch centre %lld (row %d, column %d) is outside "
                                "the raster (%d x %d)", path, (long long)i, rows[i], cols[i], W, H);
    int64_t dims[4] = {n, C, patch, patch};
    if ((st = cn_tensor_resize(out, 4, dims)) || n == 0)
        return st;
    const int T = window_side(window_bytes, C, patch, W, H), half = patch / 2;
    const int64_t nbx = (W + T - 1) / T;
    placed *list = malloc((size_t)n * sizeof *list);
    if (!list)
        return cn_set_error(CN_ENOMEM, "%s: out of memory for %lld patch positions", path,
                            (long long)n);
    for (int64_t i = 0; i < n; i++)
        list[i] = (placed){(int64_t)(rows[i] / T) * nbx + cols[i] / T, i};
    qsort(list, (size_t)n, sizeof *list, by_window);
    /* the largest window: T + P − 1 on a side, C floats and a byte per pixel */
    size_t side = (size_t)T + (size_t)patch - 1, cap = side * side;
    float *win = malloc(cap * (size_t)C * sizeof *win);
    uint8_t *valid = malloc(cap);
    if (!win || !valid) {
        st = cn_set_error(CN_ENOMEM, "%s: out of memory for a %zu x %zu window", path, side, side);
        goto done;
    }
    float *data = cn_tensor_data(out);
    for (int64_t a = 0, b; a < n && !st; a = b) {
        int r0 = H, r1 = -1, c0 = W, c1 = -1;
        for (b = a; b < n && list[b].window == list[a].window; b++) {
            int64_t i = list[b].index;
            r0 = rows[i] < r0 ? rows[i] : r0;
            r1 = rows[i] > r1 ? rows[i] : r1;
            c0 = cols[i] < c0 ? cols[i] : c0;
            c1 = cols[i] > c1 ? cols[i] : c1;
        }
        int x0 = c0 - half, y0 = r0 - half, ww = c1 - c0 + patch, wh = r1 - r0 + patch;
        if ((st = cn_raster_read_reflect(r, x0, y0, ww, wh, win, valid)))
            break;
        cut(win, valid, x0, y0, ww, C, patch, rows, cols, list + a, b - a, data);
    }
done:
    free(list);
    free(win);
    free(valid);
    return st;
}

cn_status cn_patch_samples_from_rasters(const char *image_path, const char *labels_path,
                                        int patch, cn_samples *out)
{
    if (!out)
        return cn_set_error(CN_EINVAL, "patches: NULL argument");
    memset(out, 0, sizeof *out);
    cn_status st = check_patch(image_path ? image_path : "patches", patch);
    if (st || (st = cn_samples_from_rasters(image_path, labels_path, out)))
        return st;
    cn_raster *r = NULL;
    if (!(st = cn_raster_open(image_path, &r)))
        st = cn_patches_read(r, out->rows, out->cols, out->count, patch, out->x);
    cn_raster_close(r);
    if (st)
        cn_samples_free(out);
    return st;
}

cn_status cn_patch_band_stats(const cn_tensor *x, cn_tensor *mean, cn_tensor *std)
{
    const int64_t n = cn_tensor_dim(x, 0), c = cn_tensor_dim(x, 1), p = cn_tensor_dim(x, 2);
    if (cn_tensor_ndim(x) != 4 || n < 1 || c < 1 || p % 2 == 0 || cn_tensor_dim(x, 3) != p) {
        char s[96];
        return cn_set_error(CN_EINVAL, "patch statistics: expected N x C x P x P patches with N "
                            ">= 1 and P odd, given %s", cn_tensor_shape_str(x, s, sizeof s));
    }
    cn_tensor *centre;
    cn_status st = cn_tensor_new2(n, c, &centre);
    if (st)
        return st;
    const float *src = cn_tensor_cdata(x) + (p / 2) * p + p / 2; /* the centre of the first plane */
    float *dst = cn_tensor_data(centre);
    for (int64_t i = 0; i < n * c; i++)
        dst[i] = src[i * p * p];
    st = cn_band_stats(centre, mean, std);
    cn_tensor_release(centre);
    return st;
}

cn_status cn_patches_standardize(cn_tensor *x, const cn_tensor *mean, const cn_tensor *std)
{
    const int64_t c = cn_tensor_dim(x, 1);
    if (cn_tensor_ndim(x) < 2 || cn_tensor_numel(mean) != c || cn_tensor_numel(std) != c) {
        char a[96], b[96];
        return cn_set_error(CN_ESHAPE, "standardize: patches %s but statistics of %s values "
                            "(one per channel, dimension 2)", cn_tensor_shape_str(x, a, sizeof a),
                            cn_tensor_shape_str(mean, b, sizeof b));
    }
    const int64_t n = cn_tensor_dim(x, 0), plane = n > 0 && c > 0 ? cn_tensor_numel(x) / (n * c) : 0;
    const float *mu = cn_tensor_cdata(mean), *sd = cn_tensor_cdata(std);
    float *d = cn_tensor_data(x);
    for (int64_t ch = 0; ch < c; ch++) {
        /* the expression of cn_standardize_columns, so a pixel standardises to the same value */
        float m = mu[ch], inv = sd[ch] > 0 ? 1.0f / sd[ch] : 1.0f;
        for (int64_t i = 0; i < n; i++) {
            float *v = d + (i * c + ch) * plane;
            for (int64_t k = 0; k < plane; k++)
                v[k] = isnan(v[k]) ? 0.0f : (v[k] - m) * inv;
        }
    }
    return CN_OK;
}
