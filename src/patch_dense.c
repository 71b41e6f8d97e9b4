/*
 * patch_dense.c — the shared evaluation of a patch network's leading stride-1 convolutions (see
 * patch_dense.h for the idea).
 *
 * Geometry, per axis, for a stack of convolutions with kernel k, dilation d and padding p over a
 * P-wide patch: layer L's map is S_L = S_{L−1} + 2p − d(k − 1) wide; its clean outputs are
 * [lo_L, hi_L) with lo_L = lo_{L−1} + p and hi_L = hi_{L−1} + p − d(k − 1) (S_0 = P, all clean);
 * a clean output i of the patch whose top-left corner is base pixel b equals the dense map
 * D_L[b + i − shift_L], shift_L being the sum of the paddings so far, where D_L is the stack run
 * without padding over the base (D_L[q] covers base pixels q .. q + Σ d(k − 1)).
 */
#include "patch_dense.h"

#include "conv_impl.h"
#include "parallel.h"
#include "patch_head.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 64

static bool disabled;

void cn_patch_dense_disable(bool on) { disabled = on; }

typedef struct dense_stage {
    cn_layer *conv;                /* one reference */
    int64_t c, o, k[2], d[2], p[2], taps;
    float *wp;                     /* the weights packed for the direct kernel (owned) */
    const float *bias;             /* borrowed from conv, or NULL */
    cn_layer **post;               /* the element-wise layers after it (references) */
    size_t npost;
    int64_t in[2], side[2];        /* its input and output map sizes in a patch (rows, columns) */
    int64_t lo[2], hi[2];          /* the clean outputs: [lo, hi) per axis */
    int64_t shift[2];              /* the paddings summed up to this layer */
    int64_t *toff_patch;           /* tap offsets in a padded patch map */
    int64_t *toff_strip;           /* tap offsets in the strip's input map (set per strip) */
    int64_t nborder;               /* border outputs per patch */
    int64_t *border_in;            /* their window origins in the padded input map */
    int64_t *border_out;           /* their places in the output map */
    cn_tensor *dpre;               /* 1 × o × H × W: the strip's dense map, as the convolution
                                    * gives it (the patches' clean outputs are copied from it) */
    cn_tensor *dmap;               /* the same after the post layers (the next stage's input) */
    cn_tensor *y;                  /* N × o × side: the batch's maps, before the post layers */
} dense_stage;

/* One thread's scratch. */
typedef struct dense_part {
    const float **origins;
    float **dst;
    int64_t cap;                   /* positions origins and dst hold (CN_DIRECT_TILE more) */
    float *pad;
    int64_t pad_cap;
} dense_part;

struct cn_patch_dense {
    int64_t channels;
    size_t count;
    dense_stage *stages;
    dense_part parts[MAX_PARTS];
    int first;                     /* the current strip's first base row */
};

static bool is_dense_conv(const cn_layer *l, cn_conv_spec *spec)
{
    return cn_layer_kind_of(l) == CN_LAYER_CONV2D && cn_conv_get_spec(l, spec) &&
           spec->stride[0] == 1 && spec->stride[1] == 1 &&
           spec->kernel[0] * spec->kernel[1] <= CN_DIRECT_MAX_TAPS;
}

void cn_patch_dense_free(cn_patch_dense *dense)
{
    if (!dense)
        return;
    for (size_t i = 0; i < dense->count; i++) {
        dense_stage *st = &dense->stages[i];
        cn_layer_release(st->conv);
        for (size_t j = 0; j < st->npost; j++)
            cn_layer_release(st->post[j]);
        free(st->post);
        free(st->wp);
        free(st->toff_patch);
        free(st->toff_strip);
        free(st->border_in);
        free(st->border_out);
        cn_tensor_release(st->dpre);
        cn_tensor_release(st->dmap);
        cn_tensor_release(st->y);
    }
    free(dense->stages);
    for (int i = 0; i < MAX_PARTS; i++) {
        free(dense->parts[i].origins);
        free(dense->parts[i].dst);
        free(dense->parts[i].pad);
    }
    free(dense);
}

static cn_status oom(void) { return cn_set_error(CN_ENOMEM, "predict: out of memory"); }

/* Fills stage st for the convolution conv after the previous stage prev (NULL: the patch). */
static cn_status make_stage(dense_stage *st, cn_layer *conv, const cn_conv_spec *s,
                            const dense_stage *prev, int patch)
{
    st->conv = cn_layer_retain(conv);
    st->c = s->in;
    st->o = s->out;
    st->taps = s->kernel[0] * s->kernel[1];
    for (int a = 0; a < 2; a++) {
        st->k[a] = s->kernel[a];
        st->d[a] = s->dilation[a];
        st->p[a] = s->padding[a];
        st->in[a] = prev ? prev->side[a] : patch;
        const int64_t span = st->d[a] * (st->k[a] - 1);
        st->side[a] = st->in[a] + 2 * st->p[a] - span;
        st->lo[a] = (prev ? prev->lo[a] : 0) + st->p[a];
        st->hi[a] = (prev ? prev->hi[a] : patch) + st->p[a] - span;
        if (st->lo[a] > st->side[a])
            st->lo[a] = st->side[a];
        if (st->hi[a] < st->lo[a])
            st->hi[a] = st->lo[a];
        st->shift[a] = (prev ? prev->shift[a] : 0) + st->p[a];
    }
    const int64_t opad = (st->o + 15) / 16 * 16, wpad = st->in[1] + 2 * st->p[1];
    const int64_t outputs = st->side[0] * st->side[1];
    st->wp = malloc((size_t)(st->c * st->taps * opad) * sizeof *st->wp);
    st->toff_patch = malloc((size_t)st->taps * sizeof *st->toff_patch);
    st->toff_strip = malloc((size_t)st->taps * sizeof *st->toff_strip);
    st->border_in = malloc((size_t)outputs * sizeof *st->border_in);
    st->border_out = malloc((size_t)outputs * sizeof *st->border_out);
    if (!st->wp || !st->toff_patch || !st->toff_strip || !st->border_in || !st->border_out)
        return oom();
    cn_tensor *params[2] = {NULL, NULL};
    cn_layer_params(conv, params, NULL, 2);
    cn_conv_direct_pack(cn_tensor_cdata(params[0]), st->o, st->c, st->taps, false, st->wp);
    st->bias = s->bias ? cn_tensor_cdata(params[1]) : NULL;
    for (int64_t ky = 0, t = 0; ky < st->k[0]; ky++)
        for (int64_t kx = 0; kx < st->k[1]; kx++, t++)
            st->toff_patch[t] = ky * st->d[0] * wpad + kx * st->d[1];
    for (int64_t y = 0; y < st->side[0]; y++)
        for (int64_t x = 0; x < st->side[1]; x++) {
            if (y >= st->lo[0] && y < st->hi[0] && x >= st->lo[1] && x < st->hi[1])
                continue;
            st->border_in[st->nborder] = y * wpad + x;
            st->border_out[st->nborder++] = y * st->side[1] + x;
        }
    int64_t one[4] = {1, st->o, 1, 1};
    cn_status err = cn_tensor_new(4, one, &st->dpre);
    if (!err)
        err = cn_tensor_new(4, one, &st->dmap);
    if (!err)
        err = cn_tensor_new(4, one, &st->y);
    return err;
}

/* The stack: n stages from child 0, the layers after it from child end. */
static size_t count_stack(cn_layer *net, size_t *end)
{
    size_t i = 0, n = 0, total = cn_sequential_count(net);
    cn_conv_spec s;
    while (i < total && is_dense_conv(cn_sequential_child(net, i), &s)) {
        n++;
        i++;
        while (i < total && cn_layer_is_elementwise(cn_sequential_child(net, i)))
            i++;
    }
    *end = i;
    return n;
}

static cn_status build(cn_layer *net, size_t nstages, int64_t channels, int patch,
                       cn_patch_dense *d)
{
    if (!(d->stages = calloc(nstages, sizeof *d->stages)))
        return oom();
    d->channels = channels;
    size_t at = 0;
    for (; d->count < nstages; d->count++) {
        dense_stage *st = &d->stages[d->count];
        cn_conv_spec s;
        cn_layer *conv = cn_sequential_child(net, at++);
        cn_conv_get_spec(conv, &s);
        cn_status err = make_stage(st, conv, &s, d->count ? st - 1 : NULL, patch);
        if (err)
            return err;
        size_t first = at;
        while (at < cn_sequential_count(net) && cn_layer_is_elementwise(cn_sequential_child(net, at)))
            at++;
        if (at > first && !(st->post = calloc(at - first, sizeof *st->post)))
            return oom();
        for (size_t i = first; i < at; i++)
            st->post[st->npost++] = cn_layer_retain(cn_sequential_child(net, i));
    }
    return CN_OK;
}

cn_status cn_patch_dense_plan(cn_layer *net, int64_t channels, int patch, cn_patch_dense **dense,
                              cn_layer **rest)
{
    *dense = NULL;
    *rest = cn_layer_retain(net);
    if (disabled || !cn_conv_direct_available() || cn_layer_kind_of(net) != CN_LAYER_SEQUENTIAL)
        return CN_OK;
    size_t end, nstages = count_stack(net, &end);
    if (nstages == 0 || end == cn_sequential_count(net))
        return CN_OK;
    cn_patch_dense *d = calloc(1, sizeof *d);
    if (!d)
        return oom();
    cn_status err = build(net, nstages, channels, patch, d);
    cn_layer *tail = NULL;
    if (!err)
        err = cn_sequential_new(&tail);
    for (size_t i = end; !err && i < cn_sequential_count(net); i++)
        err = cn_sequential_add(tail, cn_sequential_child(net, i));
    if (err) {
        cn_layer_release(tail);
        cn_patch_dense_free(d);
        return err;
    }
    cn_layer_release(*rest);
    *rest = tail;
    *dense = d;
    return CN_OK;
}

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
                return oom();
            p->dst = t;
            p->cap = positions;
        }
        if (pad > p->pad_cap) {
            float *g = realloc(p->pad, (size_t)pad * sizeof *g);
            if (!g)
                return oom();
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

/* ---------------------------------------------------------------- the strip's dense maps */

typedef struct strip_job {
    cn_patch_dense *d;
    const dense_stage *st;
    const float *src;
    int64_t row_stride, ch_stride; /* of the source map */
    float *dst;
    int64_t h, w;                   /* of the dense map */
} strip_job;

static void strip_rows(void *ctx, int part, int64_t begin, int64_t end)
{
    const strip_job *j = ctx;
    dense_part *p = &j->d->parts[part];
    for (int64_t r = begin; r < end; r++) {
        for (int64_t x = 0; x < j->w; x++) {
            p->origins[x] = j->src + r * j->row_stride + x;
            p->dst[x] = j->dst + r * j->w + x;
        }
        cn_conv_points a = {.origins = p->origins, .dst = p->dst, .npos = j->w,
                            .cstride = j->ch_stride, .toff = j->st->toff_strip,
                            .taps = j->st->taps, .c = j->st->c, .o = j->st->o, .wp = j->st->wp,
                            .bias = j->st->bias, .ostride = j->h * j->w};
        cn_conv_direct_points(&a);
    }
}

cn_status cn_patch_dense_strip(cn_patch_dense *dense, const float *base, int ww, int first,
                               int rows)
{
    const float *src = base + (int64_t)first * dense->channels * ww;
    int64_t row_stride = dense->channels * ww, ch_stride = ww, h = rows, w = ww;
    for (size_t i = 0; i < dense->count; i++) {
        dense_stage *st = &dense->stages[i];
        for (int64_t ky = 0, t = 0; ky < st->k[0]; ky++)
            for (int64_t kx = 0; kx < st->k[1]; kx++, t++)
                st->toff_strip[t] = ky * st->d[0] * row_stride + kx * st->d[1];
        const int64_t ho = h - st->d[0] * (st->k[0] - 1), wo = w - st->d[1] * (st->k[1] - 1);
        if (ho < 1 || wo < 1)
            return cn_set_error(CN_EINVAL, "predict: a %lld x %lld strip is smaller than the "
                                "patch", (long long)rows, (long long)ww);
        int64_t dims[4] = {1, st->o, ho, wo};
        const int parts = cn_parallel_parts(ho, 1);
        cn_status err = cn_tensor_resize(st->dpre, 4, dims);
        if (!err)
            err = reserve(dense, parts, wo, 0);
        if (err)
            return err;
        strip_job job = {dense, st, src, row_stride, ch_stride, cn_tensor_data(st->dpre), ho, wo};
        cn_parallel_run(parts, ho, strip_rows, &job, false);
        cn_tensor *out;
        if ((err = run_post(st, st->dpre, &out)) || (err = cn_tensor_copy(st->dmap, out)))
            return err;
        src = cn_tensor_cdata(st->dmap);
        row_stride = wo;
        ch_stride = ho * wo;
        h = ho;
        w = wo;
    }
    dense->first = first;
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

/* Patch i's clean outputs, from the strip's dense map as the convolution gave it, into its maps
 * y (the post layers then run on the whole map, clean and border outputs alike). */
static void copy_clean(const cn_patch_dense *d, const dense_stage *st, int y0, int x0, float *y)
{
    const int64_t sh = st->side[0], sw = st->side[1], width = st->hi[1] - st->lo[1];
    const int64_t dh = cn_tensor_dim(st->dpre, 2), dw = cn_tensor_dim(st->dpre, 3);
    const float *dmap = cn_tensor_cdata(st->dpre);
    const int64_t r0 = y0 - d->first - st->shift[0], c0 = x0 - st->shift[1] + st->lo[1];
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
