/*
 * patch_predict.c — the patch predictor: a patch model's metadata read once, then the pixels of a
 * window (given with its halo) classified from the P × P patch around each, in batches.
 *
 * The window is standardised once in place (not once per patch: each pixel belongs to P² of
 * them), invalid pixels set to 0, the band mean; the network's per-pixel head (patch_head.h), if
 * it has one, runs once per window pixel for the same reason; the window is rearranged into rows
 * of channels, so that each batch of patches is cut out of it with P-value copies, run through
 * the rest of the network in evaluation mode and soft-maxed.
 *
 * Seams: a pixel's result must not depend on the tile it is classified in, or a tiled map would
 * differ from the whole scene's. Its patch is the same values in any tile (the halo is read with
 * reflection exactly where the whole scene would be), evaluation-mode layers treat the samples of
 * a batch independently, and every forward pass is a full batch of CN_PATCH_BATCH (the last one
 * padded with zeros), so the GEMMs always have the same shapes and BLAS the same code path and
 * summation order for every sample, whichever its position.
 */
#include "model_meta.h"
#include "patch_dense.h"
#include "patch_head.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cn_patch_model {
    cn_layer *net;          /* one reference: the predictor outlives the model if need be */
    cn_patch_head *head;    /* the net's per-pixel head, run over the window (NULL: none) */
    cn_layer *tail;         /* the rest of the net, run on the patches (one reference) */
    int64_t channels;       /* per pixel, into the tail: the head's output channels, or bands */
    cn_patch_dense *dense;  /* the tail's leading convolutions shared by patches (NULL: none) */
    cn_layer *rest;         /* the tail after them (or the tail; one reference) */
    cn_raster_meta meta;    /* bands, classes, normalisation, band names */
    int patch, rf;          /* P and the receptive field R <= P */
    cn_tensor *batch;       /* CN_PATCH_BATCH × channels × P × P (owned) */
    float *row;             /* one window row, channel by channel (row_cap floats) */
    size_t row_cap;
    int64_t *where;         /* CN_PATCH_BATCH: the output index of each batch entry */
    int ys[CN_PATCH_BATCH]; /* each batch entry's patch corner in the window: row, column */
    int xs[CN_PATCH_BATCH];
    float *scores;          /* CN_PATCH_BATCH × K soft-max results, when probabilities are asked */
};

/* Patches per block, rows × columns, when the net's leading convolutions are shared
 * (patch_dense.h): with 64 channels the block's maps hold under 8 MB. */
#define DENSE_BLOCK_ROWS 16
#define DENSE_BLOCK_COLS 256

/* A positive integer metadata value in lo..hi. */
static cn_status meta_int(cn_model *model, const char *key, int lo, int hi, int *out)
{
    const char *s = cn_model_get_meta(model, key);
    if (!s)
        return cn_set_error(CN_EFORMAT, "model: a patch model without \"%s\" metadata", key);
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return cn_set_error(CN_EFORMAT, "model: \"%s\" is '%s', expected an integer in %d..%d",
                            key, s, lo, hi);
    *out = (int)v;
    return CN_OK;
}

static cn_status read_kind(cn_patch_model *pm, cn_model *model)
{
    const char *input = cn_model_get_meta(model, "input");
    if (!input || strcmp(input, "patch") != 0)
        return cn_set_error(CN_EINVAL, "model: is not a patch model (\"input\" is \"%s\")",
                            input ? input : "pixel");
    cn_status st = meta_int(model, "patch", 1, CN_PATCH_MAX, &pm->patch);
    if (!st && pm->patch % 2 == 0)
        st = cn_set_error(CN_EFORMAT, "model: \"patch\" is %d, an even side (a patch is centred "
                          "on its pixel)", pm->patch);
    if (!st)
        st = meta_int(model, "receptive_field", 1, pm->patch, &pm->rf);
    return st;
}

/* One forward pass of a single zero patch: the network must give one score per class. */
static cn_status check_net(cn_patch_model *pm)
{
    int64_t dims[4] = {1, pm->meta.bands, pm->patch, pm->patch};
    cn_tensor *probe, *y;
    cn_status st = cn_tensor_new(4, dims, &probe);
    if (st)
        return st;
    st = cn_layer_forward(pm->net, probe, &y);
    cn_tensor_release(probe);
    if (st) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cn_last_error());
        return cn_set_error(CN_EFORMAT, "model: the network does not take a (1 x %d x %d x %d) "
                            "patch: %s", pm->meta.bands, pm->patch, pm->patch, msg);
    }
    if (cn_tensor_ndim(y) != 2 || cn_tensor_dim(y, 1) != (int64_t)pm->meta.nclasses) {
        char s[96];
        return cn_set_error(CN_EFORMAT, "model: the network's output for one patch is %s, but "
                            "\"classes\" lists %zu", cn_tensor_shape_str(y, s, sizeof s),
                            pm->meta.nclasses);
    }
    return CN_OK;
}

cn_status cn_patch_model_open(cn_model *model, cn_patch_model **out)
{
    if (!model || !out)
        return cn_set_error(CN_EINVAL, "model: NULL argument");
    *out = NULL;
    cn_patch_model *pm = calloc(1, sizeof *pm);
    if (!pm)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    pm->net = cn_layer_retain(cn_model_net(model));
    cn_layer_set_training(pm->net, false);
    cn_status st;
    if ((st = read_kind(pm, model)) || (st = cn_raster_meta_read(model, &pm->meta)) ||
        (st = check_net(pm)) ||
        (st = cn_patch_head_split(pm->net, pm->meta.bands, &pm->head, &pm->tail, &pm->channels)) ||
        (st = cn_patch_dense_plan(pm->tail, pm->channels, pm->patch, &pm->dense, &pm->rest)))
        goto fail;
    int64_t dims[4] = {CN_PATCH_BATCH, pm->channels, pm->patch, pm->patch};
    if ((st = cn_tensor_new(4, dims, &pm->batch)))
        goto fail;
    pm->where = malloc(CN_PATCH_BATCH * sizeof *pm->where);
    pm->scores = malloc(CN_PATCH_BATCH * pm->meta.nclasses * sizeof *pm->scores);
    if (!pm->where || !pm->scores) {
        st = cn_set_error(CN_ENOMEM, "model: out of memory");
        goto fail;
    }
    *out = pm;
    return CN_OK;
fail:
    cn_patch_model_close(pm);
    return st;
}

void cn_patch_model_close(cn_patch_model *pm)
{
    if (!pm)
        return;
    cn_raster_meta_free(&pm->meta);
    cn_tensor_release(pm->batch);
    cn_patch_head_free(pm->head);
    cn_layer_release(pm->tail);
    cn_patch_dense_free(pm->dense);
    cn_layer_release(pm->rest);
    cn_layer_release(pm->net);
    free(pm->row);
    free(pm->where);
    free(pm->scores);
    free(pm);
}

int cn_patch_model_bands(const cn_patch_model *pm) { return pm->meta.bands; }
int cn_patch_model_patch(const cn_patch_model *pm) { return pm->patch; }
int cn_patch_model_receptive_field(const cn_patch_model *pm) { return pm->rf; }
int cn_patch_model_max_id(const cn_patch_model *pm) { return pm->meta.max_id; }

const cn_class_info *cn_patch_model_classes(const cn_patch_model *pm, size_t *count)
{
    if (count)
        *count = pm->meta.nclasses;
    return pm->meta.classes;
}

const char *cn_patch_model_band_name(const cn_patch_model *pm, int band)
{
    return cn_raster_meta_band_name(&pm->meta, band);
}

/* Standardises the n pixels of the window in place; invalid pixels become 0. */
static void standardize(const cn_patch_model *pm, float *pixels, const uint8_t *valid, size_t n)
{
    const int nb = pm->meta.bands;
    const float *mean = pm->meta.mean, *inv = pm->meta.inv_std;
    for (size_t i = 0; i < n; i++) {
        float *p = pixels + i * (size_t)nb;
        if (valid[i])
            for (int b = 0; b < nb; b++)
                p[b] = (p[b] - mean[b]) * inv[b];
        else
            memset(p, 0, (size_t)nb * sizeof *p);
    }
}

/* Rewrites the standardised window in place from pixel-interleaved bands to rows of channels
 * ([row][channel][column]: a patch row is then P consecutive values per channel), passing the
 * pixels through the head on the way when the net has one. In place is safe: a row is written
 * once all its pixels have been read, and its new block ends where its old one did or before
 * (channels <= bands). */
static cn_status to_channel_rows(cn_patch_model *pm, float *pixels, int ww, int wh)
{
    const int64_t nb = pm->meta.bands, nc = pm->channels, n = (int64_t)ww * wh;
    const size_t row_floats = (size_t)ww * (size_t)nc;
    if (row_floats > pm->row_cap) {
        float *grown = realloc(pm->row, row_floats * sizeof *grown);
        if (!grown)
            return cn_set_error(CN_ENOMEM, "predict: out of memory");
        pm->row = grown;
        pm->row_cap = row_floats;
    }
    const int64_t chunk = pm->head ? CN_HEAD_CHUNK : n;
    for (int64_t p0 = 0; p0 < n; p0 += chunk) {
        const int64_t count = n - p0 < chunk ? n - p0 : chunk;
        const float *src = pixels + p0 * nb;
        if (pm->head) {
            cn_status st = cn_patch_head_run(pm->head, src, count, &src);
            if (st)
                return st;
        }
        for (int64_t i = 0; i < count; i++) {
            const int64_t p = p0 + i, col = p % ww;
            for (int64_t c = 0; c < nc; c++)
                pm->row[c * ww + col] = src[i * nc + c];
            if (col == ww - 1)
                memcpy(pixels + (p / ww) * (int64_t)row_floats, pm->row,
                       row_floats * sizeof *pixels);
        }
    }
    return CN_OK;
}

/* Batch entry k ← the patch whose top-left corner is window pixel (y, x) of the channel rows. */
static void cut(const cn_patch_model *pm, const float *rows, int ww, int y, int x, int64_t k)
{
    const int P = pm->patch;
    const int64_t nc = pm->channels;
    float *dst = cn_tensor_data(pm->batch) + k * nc * P * P;
    for (int64_t c = 0; c < nc; c++)
        for (int dy = 0; dy < P; dy++)
            memcpy(dst + (c * P + dy) * P, rows + ((int64_t)(y + dy) * nc + c) * ww + x,
                   (size_t)P * sizeof *dst);
}

/* Runs the batch (its first count entries real, the rest zeros) and scatters the results. */
static cn_status run_batch(cn_patch_model *pm, int64_t count, int32_t *labels, float *confidence,
                           float *probs)
{
    const int64_t per = cn_tensor_numel(pm->batch) / CN_PATCH_BATCH, k = (int64_t)pm->meta.nclasses;
    if (count < CN_PATCH_BATCH)
        memset(cn_tensor_data(pm->batch) + count * per, 0,
               (size_t)((CN_PATCH_BATCH - count) * per) * sizeof(float));
    cn_tensor *y, *mid = pm->batch;
    cn_status st = CN_OK;
    if (pm->dense)
        st = cn_patch_dense_batch(pm->dense, pm->batch, count, pm->ys, pm->xs, &mid);
    if (!st)
        st = cn_layer_forward(pm->rest, mid, &y);
    if (st)
        return st;
    if (cn_tensor_ndim(y) != 2 || cn_tensor_dim(y, 0) != CN_PATCH_BATCH ||
        cn_tensor_dim(y, 1) != k) {
        char s[96];
        return cn_set_error(CN_ESHAPE, "model: the network's output is %s for %d patches, "
                            "expected (%d x %lld): one score per class",
                            cn_tensor_shape_str(y, s, sizeof s), CN_PATCH_BATCH, CN_PATCH_BATCH,
                            (long long)k);
    }
    int32_t ids[CN_PATCH_BATCH];
    float conf[CN_PATCH_BATCH];
    cn_raster_meta_reduce(&pm->meta, cn_tensor_cdata(y), count, ids, conf,
                          probs ? pm->scores : NULL);
    for (int64_t i = 0; i < count; i++) {
        int64_t at = pm->where[i];
        labels[at] = ids[i];
        if (confidence)
            confidence[at] = conf[i];
        if (probs)
            memcpy(probs + at * k, pm->scores + i * k, (size_t)k * sizeof *probs);
    }
    return CN_OK;
}

cn_status cn_patch_model_predict(cn_patch_model *pm, float *pixels, const uint8_t *valid, int w,
                                 int h, int32_t *labels, float *confidence, float *probs)
{
    if (!pm || w < 1 || h < 1 || !pixels || !valid || !labels)
        return cn_set_error(CN_EINVAL, "predict: bad arguments (%d x %d window)", w, h);
    const int P = pm->patch, half = P / 2, ww = w + P - 1, wh = h + P - 1;
    const int64_t k = (int64_t)pm->meta.nclasses;
    standardize(pm, pixels, valid, (size_t)ww * (size_t)wh);
    cn_status st = to_channel_rows(pm, pixels, ww, wh);
    /* with shared convolutions, blocks of the window: their dense maps stay a few MB whatever
     * the tile */
    const int bh = pm->dense ? DENSE_BLOCK_ROWS : h, bw = pm->dense ? DENSE_BLOCK_COLS : w;
    for (int y0 = 0; y0 < h && !st; y0 += bh)
        for (int x0 = 0; x0 < w && !st; x0 += bw) {
            const int y1 = y0 + bh < h ? y0 + bh : h, x1 = x0 + bw < w ? x0 + bw : w;
            if (pm->dense)
                st = cn_patch_dense_block(pm->dense, pixels, ww, y0, y1 - y0 + P - 1, x0,
                                          x1 - x0 + P - 1);
            int64_t count = 0;
            for (int y = y0; y < y1 && !st; y++)
                for (int x = x0; x < x1 && !st; x++) {
                    int64_t at = (int64_t)y * w + x;
                    if (!valid[(size_t)(y + half) * (size_t)ww + (size_t)(x + half)]) {
                        labels[at] = 0;
                        if (confidence)
                            confidence[at] = 0.0f;
                        for (int64_t c = 0; probs && c < k; c++)
                            probs[at * k + c] = -1.0f;
                        continue;
                    }
                    cut(pm, pixels, ww, y, x, count);
                    pm->ys[count] = y;
                    pm->xs[count] = x;
                    pm->where[count++] = at;
                    if (count == CN_PATCH_BATCH) {
                        st = run_batch(pm, count, labels, confidence, probs);
                        count = 0;
                    }
                }
            if (!st && count > 0)
                st = run_batch(pm, count, labels, confidence, probs);
        }
    return st;
}
