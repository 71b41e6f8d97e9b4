/*
 * pool.c — 2-D max and average pooling (Torch's SpatialMaxPooling, SpatialAveragePooling) and
 * global average pooling.
 *
 * Max pooling keeps, for every output, the position of the maximum within its input plane, so
 * backward routes each gradient to that one input without searching again (ties go to the first
 * position in row-major order, as in PyTorch). Average pooling divides by the full window,
 * padding included (Torch's and PyTorch's default count_include_pad); padding is at most half
 * the window, so every window holds at least one input value. Planes (one per sample and
 * channel) are independent, so they are split over the threads of cn_set_threads.
 */
#include "layer_impl.h"
#include "parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pool_impl {
    cn_pool_spec spec;     /* strides resolved */
    int32_t *argmax;       /* max pooling: input-plane index per output of the last forward */
    size_t argmax_cap;     /* entries allocated */
    int64_t n, c, h, w;    /* input of the last forward */
    int64_t oh, ow;        /* its output plane */
    bool have_forward;
} pool_impl;

static pool_impl *impl_of(const cn_layer *l) { return l->impl; }

static cn_status pool_geometry(cn_layer *l, const cn_tensor *in)
{
    pool_impl *p = impl_of(l);
    const cn_pool_spec *s = &p->spec;
    const char *what = cn_layer_kind_name(l->kind);
    if (cn_tensor_ndim(in) != 4) {
        char buf[96];
        return cn_set_error(CN_ESHAPE, "%s: given input size %s, expected (N x C x H x W)", what,
                            cn_tensor_shape_str(in, buf, sizeof buf));
    }
    int64_t c = cn_tensor_dim(in, 1), h = cn_tensor_dim(in, 2), w = cn_tensor_dim(in, 3);
    int64_t oh = 0, ow = 0;
    cn_status st = cn_window_out(what, "height", h, s->kernel[0], s->stride[0], s->padding[0], 1,
                                 s->floor, &oh);
    if (!st)
        st = cn_window_out(what, "width", w, s->kernel[1], s->stride[1], s->padding[1], 1,
                           s->floor, &ow);
    if (st)
        return st;
    if (oh < 1 || ow < 1)
        return cn_too_small(what, 3, (int64_t[]){c, h, w}, 3, (int64_t[]){c, oh, ow});
    if (h * w > INT32_MAX)
        return cn_set_error(CN_ESHAPE, "%s: input planes of %lld x %lld are too large", what,
                            (long long)h, (long long)w);
    p->n = cn_tensor_dim(in, 0);
    p->c = c;
    p->h = h;
    p->w = w;
    p->oh = oh;
    p->ow = ow;
    return cn_tensor_resize(l->output, 4, (int64_t[]){p->n, c, oh, ow});
}

/* The window of output (oy, ox) clipped to the plane: rows [y0, y1), columns [x0, x1). */
static void window(const pool_impl *p, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1,
                   int64_t *x0, int64_t *x1)
{
    const cn_pool_spec *s = &p->spec;
    int64_t ys = oy * s->stride[0] - s->padding[0], xs = ox * s->stride[1] - s->padding[1];
    *y0 = ys < 0 ? 0 : ys;
    *x0 = xs < 0 ? 0 : xs;
    *y1 = ys + s->kernel[0] < p->h ? ys + s->kernel[0] : p->h;
    *x1 = xs + s->kernel[1] < p->w ? xs + s->kernel[1] : p->w;
}

typedef struct pool_job {
    const pool_impl *p;
    bool is_max;
    const float *src;    /* forward: x; backward: dY */
    float *dst;          /* forward: y; backward: dX */
} pool_job;

/* Max pooling of one plane without padding, the common case: every window lies inside the
 * plane, so no clipping; the comparison is written so that a NaN wins and stays (PyTorch). */
static void max_plane_unpadded(const pool_impl *p, const float *xp, float *yp, int32_t *ap)
{
    const int64_t kh = p->spec.kernel[0], kw = p->spec.kernel[1];
    const int64_t sh = p->spec.stride[0], sw = p->spec.stride[1], W = p->w;
    if (kh == 2 && kw == 2) { /* the usual 2 × 2: four candidates in row-major order */
        for (int64_t oy = 0; oy < p->oh; oy++)
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t at[4] = {oy * sh * W + ox * sw, oy * sh * W + ox * sw + 1,
                                 (oy * sh + 1) * W + ox * sw, (oy * sh + 1) * W + ox * sw + 1};
                int64_t best = at[0];
                float m = xp[best];
                for (int i = 1; i < 4; i++) {
                    float v = xp[at[i]];
                    if (!(v <= m) && m == m) {
                        m = v;
                        best = at[i];
                    }
                }
                yp[oy * p->ow + ox] = m;
                ap[oy * p->ow + ox] = (int32_t)best;
            }
        return;
    }
    for (int64_t oy = 0; oy < p->oh; oy++)
        for (int64_t ox = 0; ox < p->ow; ox++) {
            int64_t best = oy * sh * W + ox * sw;
            float m = xp[best];
            for (int64_t iy = oy * sh; iy < oy * sh + kh; iy++)
                for (int64_t ix = ox * sw; ix < ox * sw + kw; ix++) {
                    float v = xp[iy * W + ix];
                    if (!(v <= m) && m == m) { /* v > m, or v is NaN and m is not */
                        m = v;
                        best = iy * W + ix;
                    }
                }
            yp[oy * p->ow + ox] = m;
            ap[oy * p->ow + ox] = (int32_t)best;
        }
}

/* Forward over planes [b, e) (one plane per sample and channel). */
static void forward_planes(void *ctx, int part, int64_t b, int64_t e)
{
    (void)part;
    const pool_job *j = ctx;
    const pool_impl *p = j->p;
    const int64_t hw = p->h * p->w, ohw = p->oh * p->ow;
    const float inv = 1.0f / (float)(p->spec.kernel[0] * p->spec.kernel[1]);
    for (int64_t q = b; q < e; q++) {
        const float *xp = j->src + q * hw;
        float *yp = j->dst + q * ohw;
        int32_t *ap = j->is_max ? p->argmax + q * ohw : NULL;
        if (j->is_max && p->spec.padding[0] == 0 && p->spec.padding[1] == 0) {
            max_plane_unpadded(p, xp, yp, ap);
            continue;
        }
        for (int64_t oy = 0; oy < p->oh; oy++)
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t y0, y1, x0, x1;
                window(p, oy, ox, &y0, &y1, &x0, &x1);
                if (j->is_max) {
                    int64_t best = y0 * p->w + x0;
                    for (int64_t iy = y0; iy < y1; iy++)
                        for (int64_t ix = x0; ix < x1; ix++) {
                            float v = xp[iy * p->w + ix];
                            if (v > xp[best] || isnan(v)) /* NaN propagates, as in PyTorch */
                                best = iy * p->w + ix;
                        }
                    yp[oy * p->ow + ox] = xp[best];
                    ap[oy * p->ow + ox] = (int32_t)best;
                } else {
                    float sum = 0.0f;
                    for (int64_t iy = y0; iy < y1; iy++)
                        for (int64_t ix = x0; ix < x1; ix++)
                            sum += xp[iy * p->w + ix];
                    yp[oy * p->ow + ox] = sum * inv;
                }
            }
    }
}

/* Backward over planes [b, e): each plane's gradient only touches its own input plane. */
static void backward_planes(void *ctx, int part, int64_t b, int64_t e)
{
    (void)part;
    const pool_job *j = ctx;
    const pool_impl *p = j->p;
    const int64_t hw = p->h * p->w, ohw = p->oh * p->ow;
    const float inv = 1.0f / (float)(p->spec.kernel[0] * p->spec.kernel[1]);
    memset(j->dst + b * hw, 0, (size_t)((e - b) * hw) * sizeof *j->dst);
    for (int64_t q = b; q < e; q++) {
        float *gp = j->dst + q * hw;
        const float *gyp = j->src + q * ohw;
        if (j->is_max) {
            const int32_t *ap = p->argmax + q * ohw;
            for (int64_t o = 0; o < ohw; o++)
                gp[ap[o]] += gyp[o];
            continue;
        }
        for (int64_t oy = 0; oy < p->oh; oy++)
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t y0, y1, x0, x1;
                window(p, oy, ox, &y0, &y1, &x0, &x1);
                float g = gyp[oy * p->ow + ox] * inv;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        gp[iy * p->w + ix] += g;
            }
    }
}

/* Planes per part: enough outputs that a part is worth a thread. */
static int64_t grain_planes(const pool_impl *p)
{
    int64_t ohw = p->oh * p->ow;
    return ohw >= 4096 ? 1 : 4096 / ohw;
}

static cn_status pool_forward(cn_layer *l, const cn_tensor *in)
{
    pool_impl *p = impl_of(l);
    p->have_forward = false;
    cn_status st = pool_geometry(l, in);
    if (st)
        return st;
    const int64_t planes = p->n * p->c, ohw = p->oh * p->ow;
    bool is_max = l->kind == CN_LAYER_MAX_POOL2D;
    if (is_max && (size_t)(planes * ohw) > p->argmax_cap) {
        int32_t *a = realloc(p->argmax, (size_t)(planes * ohw) * sizeof *a);
        if (!a)
            return cn_set_error(CN_ENOMEM, "%s: out of memory", cn_layer_kind_name(l->kind));
        p->argmax = a;
        p->argmax_cap = (size_t)(planes * ohw);
    }
    pool_job j = {p, is_max, cn_tensor_cdata(in), cn_tensor_data(l->output)};
    cn_parallel_for(planes, grain_planes(p), forward_planes, &j);
    p->have_forward = true;
    return CN_OK;
}

static cn_status pool_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                               bool want_grad_in)
{
    pool_impl *p = impl_of(l);
    if (!want_grad_in)
        return CN_OK;
    if (!p->have_forward || cn_tensor_ndim(in) != 4 || cn_tensor_dim(in, 0) != p->n ||
        cn_tensor_dim(in, 1) != p->c || cn_tensor_dim(in, 2) != p->h ||
        cn_tensor_dim(in, 3) != p->w) {
        char buf[96];
        return cn_set_error(CN_ESHAPE, "%s backward: input %s is not the one of the last forward",
                            cn_layer_kind_name(l->kind), cn_tensor_shape_str(in, buf, sizeof buf));
    }
    cn_status st = cn_tensor_resize_as(l->grad_input, in);
    if (st)
        return st;
    pool_job j = {p, l->kind == CN_LAYER_MAX_POOL2D, cn_tensor_cdata(grad_out),
                  cn_tensor_data(l->grad_input)};
    cn_parallel_for(p->n * p->c, grain_planes(p), backward_planes, &j);
    return CN_OK;
}

static cn_tensor *own_output(cn_layer *l) { return l->output; }

static void pool_destroy(cn_layer *l)
{
    pool_impl *p = impl_of(l);
    if (p)
        free(p->argmax);
    free(p);
}

static const cn_layer_ops pool_ops = {pool_forward, pool_backward, own_output, NULL,
                                      pool_destroy, NULL, NULL};

cn_status cn_pool_new(cn_layer_kind kind, const cn_pool_spec *spec, cn_layer **layer)
{
    if (!spec || !layer || (kind != CN_LAYER_MAX_POOL2D && kind != CN_LAYER_AVG_POOL2D))
        return cn_set_error(CN_EINVAL, "pool: needs max_pool2d or avg_pool2d and a spec");
    const char *what = cn_layer_kind_name(kind);
    cn_pool_spec s = *spec;
    for (int i = 0; i < 2; i++) {
        if (s.stride[i] == 0)
            s.stride[i] = s.kernel[i];
        if (s.kernel[i] < 1 || s.kernel[i] > CN_WINDOW_MAX || s.stride[i] < 1 ||
            s.stride[i] > CN_WINDOW_MAX || s.padding[i] < 0 || 2 * s.padding[i] > s.kernel[i])
            return cn_set_error(CN_EINVAL, "%s: %s: kernel %lld and stride %lld must be 1 to %d, "
                                "padding %lld 0 to half the kernel", what, i ? "width" : "height",
                                (long long)s.kernel[i], (long long)s.stride[i], CN_WINDOW_MAX,
                                (long long)s.padding[i]);
    }
    cn_status st = cn_layer_alloc(kind, &pool_ops, layer);
    if (st)
        return st;
    pool_impl *p = calloc(1, sizeof *p);
    if (!p) {
        cn_layer_release(*layer);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", what);
    }
    p->spec = s;
    (*layer)->impl = p;
    return CN_OK;
}

bool cn_pool_get_spec(const cn_layer *layer, cn_pool_spec *spec)
{
    if (!layer || (layer->kind != CN_LAYER_MAX_POOL2D && layer->kind != CN_LAYER_AVG_POOL2D))
        return false;
    *spec = impl_of(layer)->spec;
    return true;
}

/* ---------------------------------------------------------------- global average pooling */

/* Planes (N·C) and positions per plane of an N×C×(spatial…) input, or a shape error. */
static cn_status gap_sizes(const cn_tensor *in, int64_t *planes, int64_t *size)
{
    int nd = cn_tensor_ndim(in);
    if (nd < 3) {
        char buf[96];
        return cn_set_error(CN_ESHAPE, "global_avg_pool: given input size %s, expected "
                            "(N x C x H x W) or more spatial dimensions",
                            cn_tensor_shape_str(in, buf, sizeof buf));
    }
    *planes = cn_tensor_dim(in, 0) * cn_tensor_dim(in, 1);
    *size = 1;
    for (int i = 2; i < nd; i++)
        *size *= cn_tensor_dim(in, i);
    if (*size < 1)
        return cn_set_error(CN_ESHAPE, "global_avg_pool: empty spatial dimensions");
    return CN_OK;
}

static cn_status gap_forward(cn_layer *l, const cn_tensor *in)
{
    int64_t planes, size;
    cn_status st = gap_sizes(in, &planes, &size);
    if (st || (st = cn_tensor_resize(l->output, 2,
                                     (int64_t[]){cn_tensor_dim(in, 0), cn_tensor_dim(in, 1)})))
        return st;
    const float *x = cn_tensor_cdata(in);
    float *y = cn_tensor_data(l->output);
    for (int64_t q = 0; q < planes; q++) {
        float sum = 0.0f;
        for (int64_t i = 0; i < size; i++)
            sum += x[q * size + i];
        y[q] = sum / (float)size;
    }
    return CN_OK;
}

static cn_status gap_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                              bool want_grad_in)
{
    int64_t planes, size;
    cn_status st = gap_sizes(in, &planes, &size);
    if (st || !want_grad_in)
        return st;
    if (planes != cn_tensor_numel(grad_out))
        return cn_set_error(CN_ESHAPE, "global_avg_pool backward: input differs from the forward "
                            "input");
    if ((st = cn_tensor_resize_as(l->grad_input, in)))
        return st;
    const float *gy = cn_tensor_cdata(grad_out);
    float *gx = cn_tensor_data(l->grad_input);
    for (int64_t q = 0; q < planes; q++) {
        float g = gy[q] / (float)size;
        for (int64_t i = 0; i < size; i++)
            gx[q * size + i] = g;
    }
    return CN_OK;
}

static const cn_layer_ops gap_ops = {gap_forward, gap_backward, own_output, NULL, NULL, NULL,
                                     NULL};

cn_status cn_global_avg_pool_new(cn_layer **layer)
{
    if (!layer)
        return cn_set_error(CN_EINVAL, "global_avg_pool: NULL argument");
    return cn_layer_alloc(CN_LAYER_GLOBAL_AVG_POOL, &gap_ops, layer);
}
