/*
 * conv_threads.c — the memory-bound halves of a convolution over the threads of
 * cn_set_threads: unfolding (by rows of the unfolded matrix), folding (by input channel, since
 * the rows of one channel add into the same input planes) and the regrouping between the GEMM's
 * O × (N·P) layout and the N × O × P of tensors (by output channel). Every part writes its own
 * slice, so results do not depend on the thread count.
 */
#include "conv_impl.h"
#include "parallel.h"

#include <string.h>

typedef struct conv_job {
    const cn_conv_geom *g;
    const float *src;
    float *dst;
    const float *bias;   /* regroup: per output channel, or NULL */
    float *sums;         /* regroup backward: per output channel sums of dY, or NULL */
    int64_t o, p;        /* regroup: output channels, positions per sample */
} conv_job;

static void unfold_part(void *ctx, int64_t b, int64_t e)
{
    const conv_job *j = ctx;
    cn_im2col_rows(j->g, j->src, j->dst, b, e);
}

static void fold_part(void *ctx, int64_t b, int64_t e)
{
    const conv_job *j = ctx;
    cn_col2im_channels(j->g, j->src, j->dst, b, e);
}

static int64_t taps(const cn_conv_geom *g) { return g->k[0] * g->k[1] * g->k[2]; }

/* Rows that make about a quarter megabyte of the unfolded matrix: enough work per part. */
static int64_t grain_rows(const cn_conv_geom *g)
{
    int64_t cols = g->n * g->out[0] * g->out[1] * g->out[2];
    return cols >= 65536 ? 1 : 65536 / (cols ? cols : 1);
}

void cn_conv_unfold(const cn_conv_geom *g, const float *x, float *col)
{
    conv_job j = {.g = g, .src = x, .dst = col};
    cn_parallel_for(g->c * taps(g), grain_rows(g), unfold_part, &j);
}

void cn_conv_fold(const cn_conv_geom *g, const float *col, float *dx)
{
    conv_job j = {.g = g, .src = col, .dst = dx};
    cn_parallel_for(g->c, (grain_rows(g) + taps(g) - 1) / taps(g), fold_part, &j);
}

/* O × (N·P) → N × O × P plus bias, output channels [b, e). */
static void scatter_part(void *ctx, int64_t b, int64_t e)
{
    const conv_job *j = ctx;
    const int64_t n = j->g->n, P = j->p, cols = n * P;
    for (int64_t o = b; o < e; o++) {
        float bo = j->bias ? j->bias[o] : 0.0f;
        for (int64_t s = 0; s < n; s++) {
            const float *src = j->src + o * cols + s * P;
            float *dst = j->dst + (s * j->o + o) * P;
            for (int64_t q = 0; q < P; q++)
                dst[q] = src[q] + bo;
        }
    }
}

/* N × O × P → O × (N·P), output channels [b, e), with each channel's sum when asked. */
static void gather_part(void *ctx, int64_t b, int64_t e)
{
    const conv_job *j = ctx;
    const int64_t n = j->g->n, P = j->p, cols = n * P;
    for (int64_t o = b; o < e; o++) {
        double sum = 0.0;
        for (int64_t s = 0; s < n; s++) {
            const float *src = j->src + (s * j->o + o) * P;
            float *dst = j->dst + o * cols + s * P, part = 0.0f;
            for (int64_t q = 0; q < P; q++) {
                dst[q] = src[q];
                part += src[q];
            }
            sum += part;
        }
        if (j->sums)
            j->sums[o] += (float)sum;
    }
}

void cn_conv_scatter(const cn_conv_geom *g, int64_t o, const float *prod, const float *bias,
                     float *y)
{
    int64_t p = g->out[0] * g->out[1] * g->out[2];
    conv_job j = {.g = g, .src = prod, .dst = y, .bias = bias, .o = o, .p = p};
    cn_parallel_for(o, 1, scatter_part, &j);
}

void cn_conv_gather(const cn_conv_geom *g, int64_t o, const float *gy, float *prod,
                    float *bias_sums)
{
    int64_t p = g->out[0] * g->out[1] * g->out[2];
    conv_job j = {.g = g, .src = gy, .dst = prod, .sums = bias_sums, .o = o, .p = p};
    cn_parallel_for(o, 1, gather_part, &j);
}
