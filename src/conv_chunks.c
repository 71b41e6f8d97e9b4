/*
 * conv_chunks.c — running a convolution over its batch in chunks, the chunks split over the
 * threads of cn_set_threads, each chunk by the direct kernels (conv_direct.c) or im2col + GEMM.
 *
 * One GEMM over the whole batch would unfold it into one matrix of C·Πk rows and N·P columns:
 * for the reference patch network that is 24 MB per layer, written by im2col, read again by
 * OpenBLAS's packing, far outside the core's caches. A chunk of a few samples keeps its unfolded
 * matrix (or, for the direct kernels, its padded input) around a megabyte, inside L2, where
 * everything runs at cache speed; the GEMM stays large enough (hundreds of columns) for
 * OpenBLAS's kernel. Chunks are also the unit of parallelism: each part (thread) takes a
 * contiguous run of chunks with its own scratch and a single-threaded BLAS, so every step is
 * parallel and no OpenBLAS thread synchronises per GEMM.
 *
 * Backward unfolds each chunk again from the input given to it (cheaper, in cache, than keeping
 * 24 MB from the forward), and accumulates the weight and bias gradients per part; the parts'
 * sums are added in part order, so a thread count fixes the result bit for bit. Outputs and
 * input gradients do not depend on the thread count at all (each chunk is computed alone).
 */
#include "conv_impl.h"
#include "parallel.h"

#include <stdlib.h>
#include <string.h>

/* Unfolded values per chunk: a quarter million floats (1 MB) fits L2 beside OpenBLAS's packed
 * panels. */
#define CHUNK_FLOATS (1 << 18)

int64_t cn_conv_chunk(const conv_impl *c, const cn_conv_geom *g)
{
    if (c->pointwise) /* nothing is unfolded: one sample per chunk, the finest split */
        return 1;
    int64_t per = c->rows * g->out[0] * g->out[1] * g->out[2];
    int64_t chunk = CHUNK_FLOATS / (per ? per : 1);
    if (chunk < 1)
        chunk = 1;
    return chunk < g->n ? chunk : (g->n ? g->n : 1);
}

static void part_free(conv_part *s)
{
    free(s->col);
    free(s->dcol);
    free(s->prod);
    free(s->dw);
    free(s->db);
    free(s->pad);
    free(s->xpad);
    free(s->dyt);
    free(s->ptrs);
    free(s->offs);
    memset(s, 0, sizeof *s);
}

void cn_conv_parts_free(conv_impl *c)
{
    for (int i = 0; i < c->nparts; i++)
        part_free(&c->part[i]);
    free(c->part);
    c->part = NULL;
    c->nparts = 0;
    free(c->wpack);
    c->wpack = NULL;
    c->wpack_cap = 0;
}

/* Grows *buf to hold n floats. */
static bool reserve(float **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return true;
    float *p = malloc(n * sizeof *p);
    if (!p)
        return false;
    free(*buf);
    *buf = p;
    *cap = n;
    return true;
}

cn_status cn_conv_parts_reserve(conv_impl *c, int parts, int64_t chunk_cols, bool backward)
{
    if (parts > c->nparts) {
        conv_part *p = realloc(c->part, (size_t)parts * sizeof *p);
        if (!p)
            return cn_set_error(CN_ENOMEM, "conv: out of memory");
        memset(p + c->nparts, 0, (size_t)(parts - c->nparts) * sizeof *p);
        c->part = p;
        c->nparts = parts;
    }
    size_t cols = (size_t)chunk_cols, o = (size_t)c->spec.out, rows = (size_t)c->rows;
    for (int i = 0; i < parts; i++) {
        conv_part *s = &c->part[i];
        bool ok = c->pointwise || (reserve(&s->col, &s->col_cap, rows * cols) &&
                                   reserve(&s->prod, &s->prod_cap, o * cols));
        if (ok && backward) {
            ok = (c->pointwise || reserve(&s->dcol, &s->dcol_cap, rows * cols)) &&
                 reserve(&s->dw, &s->dw_cap, o * rows);
            if (ok && !s->db && !(s->db = malloc(o * sizeof *s->db)))
                ok = false;
        }
        if (!ok)
            return cn_set_error(CN_ENOMEM, "conv: cannot allocate the scratch of %zu x %zu",
                                rows, cols);
    }
    return CN_OK;
}

/* ---------------------------------------------------------------- regrouping */

/* y (n × O × P) = prod (O × n·P) + bias */
static void scatter(int64_t n, int64_t O, int64_t P, const float *prod, const float *bias,
                    float *y)
{
    const int64_t cols = n * P;
    for (int64_t s = 0; s < n; s++)
        for (int64_t o = 0; o < O; o++) {
            const float *src = prod + o * cols + s * P;
            float *dst = y + (s * O + o) * P, bo = bias ? bias[o] : 0.0f;
            for (int64_t q = 0; q < P; q++)
                dst[q] = src[q] + bo;
        }
}

/* prod (O × n·P) = gy (n × O × P); db[o] += Σ of channel o */
static void gather(int64_t n, int64_t O, int64_t P, const float *gy, float *prod, double *db)
{
    const int64_t cols = n * P;
    for (int64_t s = 0; s < n; s++)
        for (int64_t o = 0; o < O; o++) {
            const float *src = gy + (s * O + o) * P;
            float *dst = prod + o * cols + s * P, sum = 0.0f;
            for (int64_t q = 0; q < P; q++) {
                dst[q] = src[q];
                sum += src[q];
            }
            db[o] += sum;
        }
}

/* ---------------------------------------------------------------- chunks */

typedef struct conv_job {
    conv_impl *c;
    const cn_conv_geom *g;   /* the whole batch */
    int64_t chunk;           /* samples per chunk */
    const float *x, *gy;     /* input, output gradient (backward) */
    float *y, *gx;           /* output (forward), input gradient (backward, or NULL) */
    bool direct;             /* forward / input gradient by the direct kernel (wpack is packed) */
    bool direct_dw;          /* weight gradient by the direct kernel */
} conv_job;

/* Padding for the direct kernel: the spec's for forward; for the input gradient of a stride-1
 * convolution, d·(k − 1) − p on each side of dY. */
static void direct_pad(const cn_conv_geom *g, bool grad, int64_t pad[3])
{
    for (int i = 0; i < 3; i++)
        pad[i] = grad ? g->d[i] * (g->k[i] - 1) - g->p[i] : g->p[i];
}

/* The direct kernel over one chunk: forward (y from x) or input gradient (gx from gy). */
static void direct_chunk(const conv_impl *c, conv_part *s, const cn_conv_geom *g, bool grad,
                         const float *src, const float *bias, float *dst)
{
    int64_t pad[3];
    direct_pad(g, grad, pad);
    cn_conv_geom pg = *g; /* the source as the kernel sees it: channels and sizes */
    pg.c = grad ? c->spec.out : c->spec.in;
    for (int i = 0; i < 3; i++)
        pg.in[i] = grad ? g->out[i] : g->in[i];
    cn_conv_direct_args a = {.n = g->n, .c = pg.c, .o = grad ? c->spec.in : c->spec.out,
                             .wp = c->wpack, .bias = bias, .y = dst, .ptrs = s->ptrs,
                             .offs = s->offs};
    bool padded = pad[0] || pad[1] || pad[2];
    for (int i = 0; i < 3; i++) {
        a.in[i] = pg.in[i] + 2 * pad[i];
        a.out[i] = grad ? g->in[i] : g->out[i];
        a.k[i] = g->k[i];
        a.s[i] = grad ? 1 : g->s[i];
        a.d[i] = g->d[i];
    }
    if (padded)
        cn_conv_direct_pad(&pg, pad, src, s->pad);
    a.x = padded ? s->pad : src;
    cn_conv_direct_run(&a);
}

/* The weight gradient of one chunk by the direct kernel: dY transposed (bias sums on the way),
 * the input padded, then dw += Σ over positions. */
static void direct_dw_chunk(const conv_impl *c, conv_part *s, const cn_conv_geom *g,
                            const float *x, const float *gy)
{
    const int64_t O = c->spec.out, P = g->out[0] * g->out[1] * g->out[2];
    const int64_t opad = (O + 15) / 16 * 16;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t o = 0; o < opad; o++) {
            float *dst = s->dyt + n * P * opad + o;
            if (o >= O) {
                for (int64_t q = 0; q < P; q++)
                    dst[q * opad] = 0.0f;
                continue;
            }
            const float *src = gy + (n * O + o) * P;
            float sum = 0.0f;
            for (int64_t q = 0; q < P; q++) {
                dst[q * opad] = src[q];
                sum += src[q];
            }
            s->db[o] += sum;
        }
    int64_t pad[3];
    direct_pad(g, false, pad);
    cn_conv_direct_args a = {.n = g->n, .c = c->spec.in, .o = O, .ptrs = s->ptrs,
                             .offs = s->offs};
    bool padded = pad[0] || pad[1] || pad[2];
    for (int i = 0; i < 3; i++) {
        a.in[i] = g->in[i] + 2 * pad[i];
        a.out[i] = g->out[i];
        a.k[i] = g->k[i];
        a.s[i] = g->s[i];
        a.d[i] = g->d[i];
    }
    if (padded)
        cn_conv_direct_pad(g, pad, x, s->xpad);
    a.x = padded ? s->xpad : x;
    cn_conv_direct_dw(&a, s->dyt, s->dw);
}

/* The geometry of samples [n0, n0 + count) and their offsets. */
static cn_conv_geom sub(const conv_job *j, int64_t ch, int64_t *n0)
{
    cn_conv_geom g = *j->g;
    *n0 = ch * j->chunk;
    g.n = g.n - *n0 < j->chunk ? g.n - *n0 : j->chunk;
    return g;
}

static int64_t in_size(const cn_conv_geom *g) { return g->c * g->in[0] * g->in[1] * g->in[2]; }
static int64_t positions(const cn_conv_geom *g) { return g->out[0] * g->out[1] * g->out[2]; }

static void forward_part(void *ctx, int part, int64_t b, int64_t e)
{
    const conv_job *j = ctx;
    const conv_impl *c = j->c;
    conv_part *s = &c->part[part];
    const int64_t O = c->spec.out, rows = c->rows, P = positions(j->g);
    const float *w = cn_tensor_cdata(c->weight);
    const float *bias = c->bias ? cn_tensor_cdata(c->bias) : NULL;
    for (int64_t ch = b; ch < e; ch++) {
        int64_t n0;
        cn_conv_geom g = sub(j, ch, &n0);
        const float *x = j->x + n0 * in_size(&g);
        float *y = j->y + n0 * O * P;
        if (c->pointwise) { /* W · x_n straight into the output, bias first */
            for (int64_t n = 0; n < g.n; n++)
                for (int64_t o = 0; o < O; o++)
                    for (int64_t q = 0; q < P; q++)
                        y[(n * O + o) * P + q] = bias ? bias[o] : 0.0f;
            for (int64_t n = 0; n < g.n; n++)
                cn_gemm(false, false, O, P, g.c, 1.0f, w, g.c, x + n * g.c * P, P, 1.0f,
                        y + n * O * P, P);
            continue;
        }
        if (j->direct) {
            direct_chunk(c, s, &g, false, x, bias, y);
            continue;
        }
        const int64_t cols = g.n * P;
        cn_im2col(&g, x, s->col);
        cn_gemm(false, false, O, cols, rows, 1.0f, w, rows, s->col, cols, 0.0f, s->prod, cols);
        scatter(g.n, O, P, s->prod, bias, y);
    }
}

static void backward_part(void *ctx, int part, int64_t b, int64_t e)
{
    const conv_job *j = ctx;
    const conv_impl *c = j->c;
    conv_part *s = &c->part[part];
    const int64_t O = c->spec.out, rows = c->rows, P = positions(j->g);
    const float *w = cn_tensor_cdata(c->weight);
    memset(s->dw, 0, (size_t)(O * rows) * sizeof *s->dw);
    for (int64_t o = 0; o < O; o++)
        s->db[o] = 0.0;
    for (int64_t ch = b; ch < e; ch++) {
        int64_t n0;
        cn_conv_geom g = sub(j, ch, &n0);
        const float *x = j->x + n0 * in_size(&g), *gy = j->gy + n0 * O * P;
        float *gx = j->gx ? j->gx + n0 * in_size(&g) : NULL;
        if (c->pointwise) { /* per sample: dW += dY_n · x_nᵀ, dx_n = Wᵀ · dY_n */
            for (int64_t n = 0; n < g.n; n++) {
                const float *gyn = gy + n * O * P, *xn = x + n * g.c * P;
                for (int64_t o = 0; o < O; o++) {
                    float sum = 0.0f;
                    for (int64_t q = 0; q < P; q++)
                        sum += gyn[o * P + q];
                    s->db[o] += sum;
                }
                cn_gemm(false, true, O, g.c, P, 1.0f, gyn, P, xn, P, 1.0f, s->dw, g.c);
                if (gx)
                    cn_gemm(true, false, g.c, P, O, 1.0f, w, g.c, gyn, P, 0.0f,
                            gx + n * g.c * P, P);
            }
            continue;
        }
        const int64_t cols = g.n * P;
        if (j->direct_dw) {
            direct_dw_chunk(c, s, &g, x, gy);
        } else {
            gather(g.n, O, P, gy, s->prod, s->db);
            cn_im2col(&g, x, s->col);
            cn_gemm(false, true, O, rows, cols, 1.0f, s->prod, cols, s->col, cols, 1.0f, s->dw,
                    rows);
        }
        if (gx && j->direct) {
            direct_chunk(c, s, &g, true, gy, NULL, gx);
        } else if (gx) {
            if (j->direct_dw) /* dY in the GEMM's layout, not made above; db is summed there */
                for (int64_t n = 0; n < g.n; n++)
                    for (int64_t o = 0; o < O; o++)
                        memcpy(s->prod + o * cols + n * P, gy + (n * O + o) * P,
                               (size_t)P * sizeof *s->prod);
            cn_gemm(true, false, rows, cols, O, 1.0f, w, rows, s->prod, cols, 0.0f, s->dcol, cols);
            cn_col2im(&g, s->dcol, gx);
        }
    }
}

static int64_t chunks_of(const cn_conv_geom *g, int64_t chunk)
{
    return (g->n + chunk - 1) / chunk;
}

/* Whether the direct kernels can run this layer at all: AVX-512F, a kernel of at most
 * CN_DIRECT_MAX_TAPS taps, and not the pointwise path. */
static bool direct_possible(const conv_impl *c)
{
    return !c->pointwise && c->taps <= CN_DIRECT_MAX_TAPS && cn_conv_direct_available();
}

/* Grows the parts' scratch of the direct kernels: pointers and offsets; the padded source of
 * the forward or of the input gradient (grad); for the weight gradient (dw), the padded input
 * and dY transposed. */
static cn_status reserve_direct(conv_impl *c, const cn_conv_geom *g, int parts, int64_t chunk,
                                bool fwd_or_dx, bool grad, bool dw)
{
    const int64_t P = positions(g), O = c->spec.out, C = c->spec.in;
    int64_t pad[3], src = 1, xin = 1;
    direct_pad(g, grad, pad);
    for (int i = 0; i < 3; i++) {
        src *= (grad ? g->out[i] : g->in[i]) + 2 * pad[i];
        xin *= g->in[i] + 2 * g->p[i];
    }
    int64_t ip = grad ? g->in[0] * g->in[1] * g->in[2] : P; /* the kernel's output positions */
    size_t nptr = (size_t)cn_conv_direct_ptrs(ip > P ? ip : P, c->rows);
    size_t noff = (size_t)cn_conv_direct_offs(chunk, ip > P ? ip : P, c->taps);
    for (int i = 0; i < parts; i++) {
        conv_part *s = &c->part[i];
        bool ok = (fwd_or_dx ? reserve(&s->pad, &s->pad_cap,
                                       (size_t)(chunk * (grad ? O : C) * src)) : true) &&
                  (!dw || (reserve(&s->xpad, &s->xpad_cap, (size_t)(chunk * C * xin)) &&
                           reserve(&s->dyt, &s->dyt_cap,
                                   (size_t)(chunk * P * ((O + 15) / 16 * 16)))));
        if (ok && nptr > s->ptrs_cap) {
            const float **p = malloc(nptr * sizeof *p);
            if ((ok = p != NULL)) {
                free(s->ptrs);
                s->ptrs = p;
                s->ptrs_cap = nptr;
            }
        }
        if (ok && noff > s->offs_cap) {
            int64_t *p = malloc(noff * sizeof *p);
            if ((ok = p != NULL)) {
                free(s->offs);
                s->offs = p;
                s->offs_cap = noff;
            }
        }
        if (!ok)
            return cn_set_error(CN_ENOMEM, "conv: out of memory");
    }
    return CN_OK;
}

/* Whether the direct kernel takes this layer's forward (grad false) or input gradient (grad
 * true: stride 1 and padding at most the dilated kernel's reach only); packs the weights for
 * it. */
static cn_status prepare_direct(conv_impl *c, const cn_conv_geom *g, bool grad, bool *direct)
{
    *direct = false;
    if (!direct_possible(c))
        return CN_OK;
    int64_t pad[3];
    direct_pad(g, grad, pad);
    for (int i = 0; i < 3; i++)
        if (grad && (g->s[i] != 1 || pad[i] < 0))
            return CN_OK;
    int64_t ch = grad ? c->spec.out : c->spec.in, lanes = grad ? c->spec.in : c->spec.out;
    if (!reserve(&c->wpack, &c->wpack_cap, (size_t)(ch * c->taps * ((lanes + 15) / 16 * 16))))
        return cn_set_error(CN_ENOMEM, "conv: out of memory");
    cn_conv_direct_pack(cn_tensor_cdata(c->weight), c->spec.out, c->spec.in, c->taps, grad,
                        c->wpack);
    *direct = true;
    return CN_OK;
}

cn_status cn_conv_run_forward(conv_impl *c, const cn_conv_geom *g, const float *x, float *y)
{
    int64_t chunk = cn_conv_chunk(c, g), nchunks = chunks_of(g, chunk);
    int parts = cn_parallel_parts(nchunks, 1);
    bool direct = false;
    cn_status st = cn_conv_parts_reserve(c, parts, chunk * positions(g), false);
    if (!st)
        st = prepare_direct(c, g, false, &direct);
    if (!st && direct)
        st = reserve_direct(c, g, parts, chunk, true, false, false);
    if (st)
        return st;
    conv_job j = {c, g, chunk, x, NULL, y, NULL, direct, false};
    cn_parallel_run(parts, nchunks, forward_part, &j, true);
    return CN_OK;
}

cn_status cn_conv_run_backward(conv_impl *c, const cn_conv_geom *g, const float *x,
                               const float *gy, float *gx)
{
    int64_t chunk = cn_conv_chunk(c, g), nchunks = chunks_of(g, chunk);
    int parts = cn_parallel_parts(nchunks, 1);
    bool direct = false, dw = direct_possible(c);
    cn_status st = cn_conv_parts_reserve(c, parts, chunk * positions(g), true);
    if (!st && gx)
        st = prepare_direct(c, g, true, &direct);
    if (!st && (direct || dw))
        st = reserve_direct(c, g, parts, chunk, direct, true, dw);
    if (st)
        return st;
    conv_job j = {c, g, chunk, x, gy, NULL, gx, direct, dw};
    cn_parallel_run(parts, nchunks, backward_part, &j, true);
    /* the parts' sums, in part order */
    float *gw = cn_tensor_data(c->grad_weight);
    float *gb = c->grad_bias ? cn_tensor_data(c->grad_bias) : NULL;
    const int64_t nw = c->spec.out * c->rows;
    for (int p = 0; p < parts; p++) {
        const conv_part *s = &c->part[p];
        for (int64_t i = 0; i < nw; i++)
            gw[i] += s->dw[i];
        for (int64_t o = 0; gb && o < c->spec.out; o++)
            gb[o] += (float)s->db[o];
    }
    return CN_OK;
}
