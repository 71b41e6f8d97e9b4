/*
 * normalize.c — per-column standardisation of sample matrices: x ← (x − mean) / std.
 *
 * Raster models store per-band statistics of their training pixels (tensors "norm.mean" and
 * "norm.std"); training and every prediction path apply them through this one function, so a
 * model sees its inputs scaled the same way wherever it runs.
 */
#include "cropnet.h"

cn_status cn_standardize_columns(float *x, int64_t rows, int64_t cols, const float *mean,
                                 const float *std)
{
    if (!x || !mean || !std || rows < 0 || cols < 1)
        return cn_set_error(CN_EINVAL, "standardize: bad arguments");
    /* One division per column, not per value; std 0 (a constant band) counts as 1. */
    float inv[256];
    for (int64_t c0 = 0; c0 < cols; c0 += 256) {
        int64_t c1 = cols - c0 < 256 ? cols : c0 + 256; /* end of this block of columns */
        for (int64_t c = c0; c < c1; c++)
            inv[c - c0] = std[c] > 0 ? 1.0f / std[c] : 1.0f;
        for (int64_t r = 0; r < rows; r++) {
            float *row = x + r * cols;
            for (int64_t c = c0; c < c1; c++)
                row[c] = (row[c] - mean[c]) * inv[c - c0];
        }
    }
    return CN_OK;
}

cn_status cn_tensor_standardize(cn_tensor *x, const cn_tensor *mean, const cn_tensor *std)
{
    int64_t cols = cn_tensor_dim(x, cn_tensor_ndim(x) - 1);
    int64_t rows = cols ? cn_tensor_numel(x) / cols : 0;
    if (cn_tensor_numel(mean) != cols || cn_tensor_numel(std) != cols) {
        char a[96], b[96];
        return cn_set_error(CN_ESHAPE, "standardize: samples %s but statistics of %s values",
                            cn_tensor_shape_str(x, a, sizeof a),
                            cn_tensor_shape_str(mean, b, sizeof b));
    }
    return cn_standardize_columns(cn_tensor_data(x), rows, cols, cn_tensor_cdata(mean),
                                  cn_tensor_cdata(std));
}
