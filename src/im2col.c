/*
 * im2col.c — unfolding convolution windows into matrix columns and folding them back (see
 * im2col.h).
 *
 * Both directions walk the matrix row by row, so the long side of every copy is a run along one
 * output row: with stride 1 that run is a contiguous piece of an input row between two zero
 * fills for the padding, otherwise a strided gather. 2-D convolutions are the case D = 1,
 * kd = 1, at the cost of one trivial loop level. The work splits into disjoint ranges (rows for
 * im2col, channels for col2im, whose rows of one channel add into the same input plane), so
 * threads can share a call without locks.
 */
#include "im2col.h"
#include "layer_impl.h"

#include <string.h>

/* Valid output range [lo, hi) along one axis for kernel tap t: input index o·s + t·d − p within
 * [0, in). */
static void valid_range(int64_t out, int64_t in, int64_t s, int64_t p, int64_t d, int64_t t,
                        int64_t *lo, int64_t *hi)
{
    int64_t off = t * d - p; /* input index at output 0 */
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = in - off <= 0 ? 0 : (in - off + s - 1) / s; /* first o with o·s + off >= in */
    if (b > out)
        b = out;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

/* Where one kernel tap (kz, ky, kx) reads, for unfold_row and fold_row: the outputs whose input
 * lies inside the plane along each axis, and the offsets to walk the input with. */
typedef struct tap_window {
    int64_t z0, z1, y0, y1, x0, x1; /* outputs [z0, z1) × [y0, y1) × [x0, x1) read inside */
    int64_t sx, sy;                 /* input step per output column, per output row */
    int64_t zoff;                   /* input depth at output depth 0 */
    int64_t row0;                   /* input offset, within a depth slice, of output (y0, 0) */
} tap_window;

static tap_window tap_window_of(const cn_conv_geom *g, int64_t kz, int64_t ky, int64_t kx)
{
    const int64_t H = g->in[1], W = g->in[2];
    tap_window t;
    valid_range(g->out[0], g->in[0], g->s[0], g->p[0], g->d[0], kz, &t.z0, &t.z1);
    valid_range(g->out[1], H, g->s[1], g->p[1], g->d[1], ky, &t.y0, &t.y1);
    valid_range(g->out[2], W, g->s[2], g->p[2], g->d[2], kx, &t.x0, &t.x1);
    t.sx = g->s[2];
    t.sy = g->s[1] * W;
    t.zoff = kz * g->d[0] - g->p[0];
    t.row0 = (t.y0 * g->s[1] + ky * g->d[1] - g->p[1]) * W + kx * g->d[2] - g->p[2];
    return t;
}

/* The short copies below are written as loops on purpose: a patch network's output rows are 9
 * to 11 values long, and a memcpy/memset call per row (which GCC would otherwise substitute for
 * the loops) costs more than the copy itself. Profiled, unfolding was a fifth of a patch
 * network's inference with a loop per row; the constant-width rows of copy_block halve it (and
 * AVX-512 masked loads and stores per row, tried, were slower than these). */
#if defined(__GNUC__) && !defined(__clang__)
#define SHORT_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define SHORT_LOOPS
#endif

/* rows × OW block of dst (rows contiguous) from src (rows sy apart): columns [x0, x1) copied from
 * src + x0, the others zero. The switch on the width sits outside the loop, so for the widths of
 * patch networks (up to 16) each row is a constant-size copy: a few vector moves, no loop, no
 * call. */
static void copy_block(float *dst, int64_t OW, const float *src, int64_t sy, int64_t rows,
                       int64_t x0, int64_t x1)
{
    const int64_t w = x1 - x0;
    dst += x0;
    src += x0;
    switch (w) {
#define CASE(k)                                                                        \
    case k:                                                                            \
        for (int64_t r = 0; r < rows; r++, dst += OW, src += sy) {                     \
            for (int64_t i = -x0; i < 0; i++)                                          \
                dst[i] = 0.0f;                                                         \
            memcpy(dst, src, k * sizeof *dst);                                         \
            for (int64_t i = k; i < OW - x0; i++)                                      \
                dst[i] = 0.0f;                                                         \
        }                                                                              \
        return;
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
        CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
#undef CASE
    default:
        for (int64_t r = 0; r < rows; r++, dst += OW, src += sy) {
            for (int64_t i = -x0; i < 0; i++)
                dst[i] = 0.0f;
            for (int64_t i = 0; i < w; i++)
                dst[i] = src[i];
            for (int64_t i = w; i < OW - x0; i++)
                dst[i] = 0.0f;
        }
    }
}

/* dst (rows sy apart) columns [x0, x1) += src (rows × OW, contiguous) columns [x0, x1): the
 * reverse of copy_block, with the same constant-width rows. */
static void add_block(float *dst, int64_t sy, const float *src, int64_t OW, int64_t rows,
                      int64_t x0, int64_t x1)
{
    const int64_t w = x1 - x0;
    dst += x0;
    src += x0;
    switch (w) {
#define CASE(k)                                                                        \
    case k:                                                                            \
        for (int64_t r = 0; r < rows; r++, dst += sy, src += OW)                       \
            for (int64_t i = 0; i < k; i++)                                            \
                dst[i] += src[i];                                                      \
        return;
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
        CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
#undef CASE
    default:
        for (int64_t r = 0; r < rows; r++, dst += sy, src += OW)
            for (int64_t i = 0; i < w; i++)
                dst[i] += src[i];
    }
}

/* One row of col: tap (c, kz, ky, kx) over every sample and output position. */
SHORT_LOOPS static void unfold_row(const cn_conv_geom *g, const float *x, float *dst, int64_t c,
                                   int64_t kz, int64_t ky, int64_t kx)
{
    const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
    const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
    const tap_window t = tap_window_of(g, kz, ky, kx);
    for (int64_t n = 0; n < g->n; n++) {
        const float *plane = x + (n * g->c + c) * D * H * W;
        for (int64_t oz = 0; oz < OD; oz++) {
            if (oz < t.z0 || oz >= t.z1) {
                for (int64_t i = 0; i < OH * OW; i++)
                    dst[i] = 0.0f;
                dst += OH * OW;
                continue;
            }
            const float *slice = plane + (oz * g->s[0] + t.zoff) * H * W;
            for (int64_t oy = 0; oy < t.y0; oy++, dst += OW)
                for (int64_t ox = 0; ox < OW; ox++)
                    dst[ox] = 0.0f;
            const float *row = slice + t.row0;
            /* whole rows back to back */
            if (t.sx == 1 && t.x0 == 0 && t.x1 == OW && t.sy == OW) {
                memcpy(dst, row, (size_t)((t.y1 - t.y0) * OW) * sizeof *dst);
                dst += (t.y1 - t.y0) * OW;
            } else if (t.sx == 1) {
                copy_block(dst, OW, row, t.sy, t.y1 - t.y0, t.x0, t.x1);
                dst += (t.y1 - t.y0) * OW;
            } else {
                for (int64_t oy = t.y0; oy < t.y1; oy++, dst += OW, row += t.sy) {
                    for (int64_t ox = 0; ox < t.x0; ox++)
                        dst[ox] = 0.0f;
                    for (int64_t ox = t.x0; ox < t.x1; ox++)
                        dst[ox] = row[ox * t.sx];
                    for (int64_t ox = t.x1; ox < OW; ox++)
                        dst[ox] = 0.0f;
                }
            }
            for (int64_t oy = t.y1; oy < OH; oy++, dst += OW)
                for (int64_t ox = 0; ox < OW; ox++)
                    dst[ox] = 0.0f;
        }
    }
}

/* The reverse of unfold_row: adds one row of col into dx. */
SHORT_LOOPS static void fold_row(const cn_conv_geom *g, const float *src, float *dx, int64_t c,
                                 int64_t kz, int64_t ky, int64_t kx)
{
    const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
    const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
    const tap_window t = tap_window_of(g, kz, ky, kx);
    for (int64_t n = 0; n < g->n; n++) {
        float *plane = dx + (n * g->c + c) * D * H * W;
        for (int64_t oz = 0; oz < OD; oz++, src += OH * OW) {
            if (oz < t.z0 || oz >= t.z1)
                continue;
            float *slice = plane + (oz * g->s[0] + t.zoff) * H * W;
            float *row = slice + t.row0;
            const float *s = src + t.y0 * OW;
            /* whole rows back to back */
            if (t.sx == 1 && t.x0 == 0 && t.x1 == OW && t.sy == OW) {
                for (int64_t i = 0; i < (t.y1 - t.y0) * OW; i++)
                    row[i] += s[i];
                continue;
            }
            if (t.sx == 1) {
                add_block(row, t.sy, s, OW, t.y1 - t.y0, t.x0, t.x1);
                continue;
            }
            for (int64_t oy = t.y0; oy < t.y1; oy++, s += OW, row += t.sy)
                for (int64_t ox = t.x0; ox < t.x1; ox++)
                    row[ox * t.sx] += s[ox];
        }
    }
}

static int64_t taps(const cn_conv_geom *g) { return g->k[0] * g->k[1] * g->k[2]; }

static int64_t columns(const cn_conv_geom *g)
{
    return g->n * g->out[0] * g->out[1] * g->out[2];
}

void cn_im2col_rows(const cn_conv_geom *g, const float *x, float *col, int64_t r0, int64_t r1)
{
    const int64_t kk = taps(g), cols = columns(g);
    for (int64_t r = r0; r < r1; r++) {
        int64_t c = r / kk, t = r % kk;
        int64_t kz = t / (g->k[1] * g->k[2]), ky = t / g->k[2] % g->k[1], kx = t % g->k[2];
        unfold_row(g, x, col + r * cols, c, kz, ky, kx);
    }
}

void cn_col2im_channels(const cn_conv_geom *g, const float *col, float *dx, int64_t c0,
                        int64_t c1)
{
    const int64_t kk = taps(g), cols = columns(g);
    const int64_t plane = g->in[0] * g->in[1] * g->in[2];
    for (int64_t n = 0; n < g->n; n++)
        memset(dx + (n * g->c + c0) * plane, 0, (size_t)((c1 - c0) * plane) * sizeof *dx);
    for (int64_t c = c0; c < c1; c++)
        for (int64_t t = 0; t < kk; t++) {
            int64_t kz = t / (g->k[1] * g->k[2]), ky = t / g->k[2] % g->k[1], kx = t % g->k[2];
            fold_row(g, col + (c * kk + t) * cols, dx, c, kz, ky, kx);
        }
}

void cn_im2col(const cn_conv_geom *g, const float *x, float *col)
{
    cn_im2col_rows(g, x, col, 0, g->c * taps(g));
}

void cn_col2im(const cn_conv_geom *g, const float *col, float *dx)
{
    cn_col2im_channels(g, col, dx, 0, g->c);
}
