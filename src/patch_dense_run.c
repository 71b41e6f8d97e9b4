/*
 * patch_dense_run.c — the shared patch convolutions at work: a block's dense maps, computed once
 * without padding, and each batch's maps assembled from them (clean outputs copied) and from the
 * direct kernel at the border outputs (patch_dense.h).
 */
#include "patch_dense_impl.h"

#include "conv_impl.h"
#include "parallel.h"

#include <stdlib.h>
#include <string.h>

/* Scratch for parts parts: positions of `positions` outputs and a padded map of pad floats. */
static cn_status reserve(cn_patch_dense *d, int parts, int64_t positions, int64_t pad)
{
    for (int i = 0; i < parts; i++) {
        dense_part *p = &d->parts[i];
        if (positions > p->cap) {
            const size_t n = (size_t)(positions + CN_DIRECT_TILE);
            const float **o = realloc(p->origins, n * sizeof *o);
            if (o)
                p->origins = o;
            float **t = o ? realloc(p->dst, n * sizeof *t) : NULL;
            if (!t)
                return cn_patch_dense_oom();
            p->dst = t;
            p->cap = positions;
        }
        if (pad > p->pad_cap) {
            float *g = realloc(p->pad, (size_t)pad * sizeof *g);
            if (!g)
                return cn_patch_dense_oom();
            p->pad = g;
            p->pad_cap = pad;
        }
    }
    return CN_OK;
}

/* Runs the stage's post layers on t and leaves their result in *out. */
static cn_status run_post(dense_stage *st, cn_tensor *t, cn_tensor **out)
{
    for (size_t j = 0; j < st->npost; j++) {
        cn_status err = cn_layer_forward(st->post[j], t, &t);
        if (err)
            return err;
    }
    *out = t;
    return CN_OK;
}

/* ---------------------------------------------------------------- the block's dense maps */

typedef struct block_job {
    cn_patch_dense *d;
    const dense_stage *st;
    const float *src;
    int64_t row_stride, ch_stride; /* of the source map */
    float *dst;
    int64_t h, w;                   /* of the dense map */
} block_job;

static void block_rows(void *ctx, int part, int64_t begin, int64_t end)
{
    const block_job *j = ctx;
    dense_part *p = &j->d->parts[part];
    for (int64_t r = begin; r < end; r++) {
        for (int64_t x = 0; x < j->w; x++) {
            p->origins[x] = j->src + r * j->row_stride + x;
            p->dst[x] = j->dst + r * j->w + x;
        }
        cn_conv_points a = {.origins = p->origins, .dst = p->dst, .npos = j->w,
                            .cstride = j->ch_stride, .toff = j->st->toff_block,
                            .taps = j->st->taps, .c = j->st->c, .o = j->st->o, .wp = j->st->wp,
                            .bias = j->st->bias, .ostride = j->h * j->w};
        cn_conv_direct_points(&a);
    }
}

cn_status cn_patch_dense_block(cn_patch_dense *dense, const float *base, int ww, int first_row,
                               int rows, int first_col, int cols)
{
    const float *src = base + (int64_t)first_row * dense->channels * ww + first_col;
    int64_t row_stride = dense->channels * ww, ch_stride = ww, h = rows, w = cols;
    for (size_t i = 0; i < dense->count; i++) {
        dense_stage *st = &dense->stages[i];
        for (int64_t ky = 0, t = 0; ky < st->k[0]; ky++)
            for (int64_t kx = 0; kx < st->k[1]; kx++, t++)
                st->toff_block[t] = ky * st->d[0] * row_stride + kx * st->d[1];
        const int64_t ho = h - st->d[0] * (st->k[0] - 1), wo = w - st->d[1] * (st->k[1] - 1);
        if (ho < 1 || wo < 1)
            return cn_set_error(CN_EINVAL, "predict: a %lld x %lld block is smaller than the "
                                "patch", (long long)cols, (long long)rows);
        int64_t dims[4] = {1, st->o, ho, wo};
        const int parts = cn_parallel_parts(ho, 1);
        cn_status err = cn_tensor_resize(st->dpre, 4, dims);
        if (!err)
            err = reserve(dense, parts, wo, 0);
        if (err)
            return err;
        block_job job = {dense, st, src, row_stride, ch_stride, cn_tensor_data(st->dpre), ho, wo};
        cn_parallel_run(parts, ho, block_rows, &job, false);
        cn_tensor *out;
        if ((err = run_post(st, st->dpre, &out)) || (err = cn_tensor_copy(st->dmap, out)))
            return err;
        src = cn_tensor_cdata(st->dmap);
        row_stride = wo;
        ch_stride = ho * wo;
        h = ho;
        w = wo;
    }
    dense->first_row = first_row;
    dense->first_col = first_col;
    return CN_OK;
}

/* ---------------------------------------------------------------- a batch of patches */

typedef struct batch_job {
    cn_patch_dense *d;
    const dense_stage *st;
    const float *in;  /* N × c × in[0] × in[1] */
    float *y;         /* N × o × side[0] × side[1] */
    const int *ys, *xs;
} batch_job;

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* n floats: one masked load and store for a row of up to 16 (a patch row is 5 to 15), where a
 * memcpy call would cost more than the copy. The shared path only runs with AVX-512F. */
__attribute__((target("avx512f"))) static void copy_row(float *dst, const float *src, int64_t n)
{
    if (n > 16) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    __mmask16 m = (__mmask16)((1u << n) - 1);
    _mm512_mask_storeu_ps(dst, m, _mm512_maskz_loadu_ps(m, src));
}
#else
static void copy_row(float *dst, const float *src, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof *dst);
}
#endif

/* Patch i's clean outputs, from the block's dense map as the convolution gave it, into its maps
 * y (the post layers then run on the whole map, clean and border outputs alike). */
static void copy_clean(const cn_patch_dense *d, const dense_stage *st, int y0, int x0, float *y)
{
    const int64_t sh = st->side[0], sw = st->side[1], width = st->hi[1] - st->lo[1];
    const int64_t dh = cn_tensor_dim(st->dpre, 2), dw = cn_tensor_dim(st->dpre, 3);
    const float *dmap = cn_tensor_cdata(st->dpre);
    const int64_t r0 = y0 - d->first_row - st->shift[0];
    const int64_t c0 = x0 - d->first_col - st->shift[1] + st->lo[1];
    if (width <= 0)
        return;
    for (int64_t o = 0; o < st->o; o++)
        for (int64_t r = st->lo[0]; r < st->hi[0]; r++)
            copy_row(y + (o * sh + r) * sw + st->lo[1], dmap + (o * dh + r0 + r) * dw + c0, width);
}

/* The maps of patches [begin, end): border outputs by the kernel on the patch's input map padded,
 * clean outputs copied. */
static void batch_border(void *ctx, int part, int64_t begin, int64_t end)
{
    const batch_job *j = ctx;
    const dense_stage *st = j->st;
    dense_part *p = &j->d->parts[part];
    const int64_t ih = st->in[0], iw = st->in[1], ph = st->p[0], pw = st->p[1];
    const int64_t hp = ih + 2 * ph, wp = iw + 2 * pw, outputs = st->side[0] * st->side[1];
    const bool padded = ph || pw;
    for (int64_t i = begin; i < end; i++) {
        const float *src = j->in + i * st->c * ih * iw;
        if (padded) {
            memset(p->pad, 0, (size_t)(st->c * hp * wp) * sizeof *p->pad);
            for (int64_t c = 0; c < st->c; c++)
                for (int64_t y = 0; y < ih; y++)
                    copy_row(p->pad + (c * hp + y + ph) * wp + pw, src + (c * ih + y) * iw, iw);
            src = p->pad;
        }
        float *y = j->y + i * st->o * outputs;
        for (int64_t b = 0; b < st->nborder; b++) {
            p->origins[b] = src + st->border_in[b];
            p->dst[b] = y + st->border_out[b];
        }
        cn_conv_points a = {.origins = p->origins, .dst = p->dst, .npos = st->nborder,
                            .cstride = hp * wp, .toff = st->toff_patch, .taps = st->taps,
                            .c = st->c, .o = st->o, .wp = st->wp, .bias = st->bias,
                            .ostride = outputs};
        cn_conv_direct_points(&a);
        copy_clean(j->d, st, j->ys[i], j->xs[i], y);
    }
}

cn_status cn_patch_dense_batch(cn_patch_dense *dense, const cn_tensor *batch, int64_t n,
                               const int *ys, const int *xs, cn_tensor **out)
{
    const int64_t N = cn_tensor_dim(batch, 0);
    const cn_tensor *cur = batch;
    for (size_t i = 0; i < dense->count; i++) {
        dense_stage *st = &dense->stages[i];
        int64_t dims[4] = {N, st->o, st->side[0], st->side[1]};
        const int64_t pad = st->c * (st->in[0] + 2 * st->p[0]) * (st->in[1] + 2 * st->p[1]);
        const int parts = cn_parallel_parts(n, 1);
        cn_status err = cn_tensor_resize(st->y, 4, dims);
        if (!err)
            err = reserve(dense, parts, st->nborder, pad);
        if (err)
            return err;
        batch_job job = {dense, st, cn_tensor_cdata(cur), cn_tensor_data(st->y), ys, xs};
        cn_parallel_run(parts, n, batch_border, &job, false);
        cn_tensor *maps;
        if ((err = run_post(st, st->y, &maps)))
            return err;
        cur = maps;
    }
    *out = (cn_tensor *)cur;
    return CN_OK;
}

