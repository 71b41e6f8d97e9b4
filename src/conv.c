/*
 * conv.c — 2-D and 3-D convolution layers (Torch's SpatialConvolution and VolumetricConvolution,
 * PyTorch's Conv2d and Conv3d).
 *
 * The whole batch is unfolded into one matrix (im2col.c) and multiplied by the weights in one
 * GEMM, W (O × C·Πk) · col (C·Πk × N·P) = O × N·P, P being the output positions per sample: one
 * large GEMM keeps OpenBLAS near its peak where N GEMMs over 9×9 outputs would not. The product is
 * then regrouped into the N×O×P layout with the bias added in the same pass. Backward reuses the
 * unfolded input of the forward (as Torch's SpatialConvolutionMM does) for the weight gradient,
 * and folds W^T·dY back for the input gradient.
 *
 * A 1×1 convolution with stride 1 and no padding is a GEMM over channels on each sample as it
 * lies (C × P), so it skips the unfolding entirely: N GEMMs W · X_n straight into the output.
 * 2-D is the 3-D code with a depth of 1.
 */
#include "conv_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static conv_impl *impl_of(const cn_layer *l) { return l->impl; }

static const char *name_of(const cn_layer *l) { return cn_layer_kind_name(l->kind); }

/* Whether the layer is the direct 1×1 case. */
static bool is_pointwise(const cn_conv_spec *s)
{
    for (int i = 0; i < s->dims; i++)
        if (s->kernel[i] != 1 || s->stride[i] != 1 || s->padding[i] != 0)
            return false;
    return true;
}

/* Checks in against the spec and fills the geometry of a forward over it. */
static cn_status geometry(const cn_layer *l, const cn_tensor *in, cn_conv_geom *g)
{
    const conv_impl *c = impl_of(l);
    const cn_conv_spec *s = &c->spec;
    const char *what = name_of(l);
    int nd = cn_tensor_ndim(in);
    if (nd != 2 + s->dims || cn_tensor_dim(in, 1) != s->in) {
        char buf[96];
        return cn_set_error(CN_ESHAPE, "%s: given input size %s, expected (N x %lld x %s)", what,
                            cn_tensor_shape_str(in, buf, sizeof buf), (long long)s->in,
                            s->dims == 2 ? "H x W" : "D x H x W");
    }
    static const char *const axes2[] = {"height", "width"}, *const axes3[] = {"depth", "height",
                                                                            "width"};
    const char *const *axes = s->dims == 2 ? axes2 : axes3;
    int off = 3 - s->dims; /* geometry axes are (D, H, W); 2-D uses D = 1 */
    *g = (cn_conv_geom){.n = cn_tensor_dim(in, 0), .c = s->in};
    for (int i = 0; i < 3; i++) {
        g->in[i] = g->out[i] = g->k[i] = g->s[i] = g->d[i] = 1;
        g->p[i] = 0;
    }
    bool small = false;
    for (int i = 0; i < s->dims; i++) {
        int a = off + i;
        g->in[a] = cn_tensor_dim(in, 2 + i);
        g->k[a] = s->kernel[i];
        g->s[a] = s->stride[i];
        g->p[a] = s->padding[i];
        g->d[a] = s->dilation[i];
        cn_status st = cn_window_out(what, axes[i], g->in[a], g->k[a], g->s[a], g->p[a], g->d[a],
                                     s->floor, &g->out[a]);
        if (st)
            return st;
        small = small || g->out[a] < 1;
    }
    if (small) {
        int64_t gi[4] = {s->in}, go[4] = {s->out};
        for (int i = 0; i < s->dims; i++) {
            gi[1 + i] = g->in[off + i];
            go[1 + i] = g->out[off + i] > 0 ? g->out[off + i] : 0;
        }
        return cn_too_small(what, 1 + s->dims, gi, 1 + s->dims, go);
    }
    int64_t p = g->out[0] * g->out[1] * g->out[2];
    if (g->n > CN_GEMM_DIM_MAX / p)
        return cn_set_error(CN_ESHAPE, "%s: batch of %lld too large for one GEMM (%lld output "
                            "positions each)", what, (long long)g->n, (long long)p);
    return CN_OK;
}

static int64_t positions(const cn_conv_geom *g) { return g->out[0] * g->out[1] * g->out[2]; }

static cn_status resize_output(cn_layer *l, const cn_conv_geom *g)
{
    const cn_conv_spec *s = &impl_of(l)->spec;
    int64_t dims[5] = {g->n, s->out};
    for (int i = 0; i < s->dims; i++)
        dims[2 + i] = g->out[3 - s->dims + i];
    return cn_tensor_resize(l->output, 2 + s->dims, dims);
}

static cn_status conv_forward(cn_layer *l, const cn_tensor *in)
{
    conv_impl *c = impl_of(l);
    cn_conv_geom g;
    cn_status st = geometry(l, in, &g);
    if (st || (st = resize_output(l, &g)))
        return st;
    c->geom = g;
    c->have_forward = false;
    const int64_t O = c->spec.out, P = positions(&g), rows = c->rows, cols = g.n * P;
    const float *w = cn_tensor_cdata(c->weight), *x = cn_tensor_cdata(in);
    const float *b = c->bias ? cn_tensor_cdata(c->bias) : NULL;
    float *y = cn_tensor_data(l->output);
    if (c->pointwise) {
        for (int64_t n = 0; n < g.n; n++) {
            float *yn = y + n * O * P;
            for (int64_t o = 0; o < O; o++)
                for (int64_t p = 0; p < P; p++)
                    yn[o * P + p] = b ? b[o] : 0.0f;
        }
        cn_conv_pointwise_forward(c, &g, x, y);
        c->have_forward = true;
        return CN_OK;
    }
    int64_t cdims[2] = {rows, cols}, pdims[2] = {O, cols};
    if ((st = cn_tensor_resize(c->col, 2, cdims)) || (st = cn_tensor_resize(c->prod, 2, pdims)))
        return st;
    float *col = cn_tensor_data(c->col), *prod = cn_tensor_data(c->prod);
    cn_conv_unfold(&g, x, col);
    cn_gemm(false, false, O, cols, rows, 1.0f, w, rows, col, cols, 0.0f, prod, cols);
    cn_conv_scatter(&g, O, prod, b, y); /* O × (N·P) → N × O × P, adding the bias on the way */
    c->have_forward = true;
    return CN_OK;
}

/* The input of a backward must be the forward's: its unfolded copy is what backward uses. */
static cn_status check_same_input(const cn_layer *l, const cn_tensor *in)
{
    const conv_impl *c = impl_of(l);
    const cn_conv_geom *g = &c->geom;
    bool same = c->have_forward && cn_tensor_ndim(in) == 2 + c->spec.dims &&
                cn_tensor_dim(in, 0) == g->n && cn_tensor_dim(in, 1) == g->c;
    for (int i = 0; same && i < c->spec.dims; i++)
        same = cn_tensor_dim(in, 2 + i) == g->in[3 - c->spec.dims + i];
    if (same)
        return CN_OK;
    char buf[96];
    return cn_set_error(CN_ESHAPE, "%s backward: input %s is not the one of the last forward",
                        name_of(l), cn_tensor_shape_str(in, buf, sizeof buf));
}

static cn_status conv_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                               bool want_grad_in)
{
    conv_impl *c = impl_of(l);
    cn_status st = check_same_input(l, in);
    if (st)
        return st;
    const cn_conv_geom *g = &c->geom;
    const int64_t O = c->spec.out, P = positions(g), rows = c->rows, cols = g->n * P;
    const float *gy = cn_tensor_cdata(grad_out), *w = cn_tensor_cdata(c->weight);
    float *gb = c->grad_bias ? cn_tensor_data(c->grad_bias) : NULL;
    if (want_grad_in && (st = cn_tensor_resize_as(l->grad_input, in)))
        return st;
    float *gx = want_grad_in ? cn_tensor_data(l->grad_input) : NULL;
    if (c->pointwise) {
        if (gb)
            for (int64_t n = 0; n < g->n; n++)
                for (int64_t o = 0; o < O; o++) {
                    const float *src = gy + (n * O + o) * P;
                    float sum = 0.0f;
                    for (int64_t p = 0; p < P; p++)
                        sum += src[p];
                    gb[o] += sum;
                }
        cn_conv_pointwise_backward(c, g, cn_tensor_cdata(in), gy, gx);
        return CN_OK;
    }
    /* dY regrouped N × O × P → O × (N·P), the layout of the forward product; bias sums too */
    float *prod = cn_tensor_data(c->prod);
    cn_conv_gather(g, O, gy, prod, gb);
    /* dW += dY · colᵀ */
    cn_gemm(false, true, O, rows, cols, 1.0f, prod, cols, cn_tensor_cdata(c->col), cols, 1.0f,
            cn_tensor_data(c->grad_weight), rows);
    if (!want_grad_in)
        return CN_OK;
    /* dcol = Wᵀ · dY, folded back onto the input; a buffer of its own keeps the forward's col */
    int64_t cdims[2] = {rows, cols};
    if ((st = cn_tensor_resize(c->dcol, 2, cdims)))
        return st;
    float *dcol = cn_tensor_data(c->dcol);
    cn_gemm(true, false, rows, cols, O, 1.0f, w, rows, prod, cols, 0.0f, dcol, cols);
    cn_conv_fold(g, dcol, gx);
    return CN_OK;
}

static cn_tensor *conv_output(cn_layer *l) { return l->output; }

static void conv_params(cn_layer *l, cn_tensor **params, cn_tensor **grads, size_t cap, size_t *n)
{
    conv_impl *c = impl_of(l);
    cn_layer_push_param(c->weight, c->grad_weight, params, grads, cap, n);
    if (c->bias)
        cn_layer_push_param(c->bias, c->grad_bias, params, grads, cap, n);
}

static void conv_init(cn_layer *l, cn_init_kind kind, float std, cn_rng *rng)
{
    conv_impl *c = impl_of(l);
    cn_init_fill(c->weight, c->spec.in * c->taps, c->spec.out * c->taps, kind, std, rng);
    if (c->bias)
        cn_tensor_fill(c->bias, 0.0f);
}

static void conv_destroy(cn_layer *l)
{
    conv_impl *c = impl_of(l);
    if (!c)
        return;
    cn_tensor_release(c->weight);
    cn_tensor_release(c->bias);
    cn_tensor_release(c->grad_weight);
    cn_tensor_release(c->grad_bias);
    cn_tensor_release(c->col);
    cn_tensor_release(c->dcol);
    cn_tensor_release(c->prod);
    free(c);
}

static const cn_layer_ops conv_ops = {conv_forward, conv_backward, conv_output, conv_params,
                                      conv_destroy, NULL, conv_init};

void cn_conv_spec_default(cn_conv_spec *spec, int dims, int64_t in, int64_t out, int64_t k)
{
    *spec = (cn_conv_spec){.dims = dims, .in = in, .out = out, .bias = true};
    for (int i = 0; i < CN_CONV_MAX_SPATIAL; i++) {
        spec->kernel[i] = k;
        spec->stride[i] = 1;
        spec->padding[i] = 0;
        spec->dilation[i] = 1;
    }
}

static cn_status check_spec(const cn_conv_spec *s, int64_t *taps)
{
    if (s->dims != 2 && s->dims != 3)
        return cn_set_error(CN_EINVAL, "conv: %d spatial dimensions (expected 2 or 3)", s->dims);
    const char *what = s->dims == 2 ? "conv2d" : "conv3d";
    if (s->in < 1 || s->in > CN_CHANNELS_MAX || s->out < 1 || s->out > CN_CHANNELS_MAX)
        return cn_set_error(CN_EINVAL, "%s: channels must be 1 to %d (given %lld -> %lld)", what,
                            CN_CHANNELS_MAX, (long long)s->in, (long long)s->out);
    int64_t t = 1;
    for (int i = 0; i < s->dims; i++) {
        if (s->kernel[i] < 1 || s->kernel[i] > CN_WINDOW_MAX || s->stride[i] < 1 ||
            s->stride[i] > CN_WINDOW_MAX || s->dilation[i] < 1 ||
            s->dilation[i] > CN_WINDOW_MAX || s->padding[i] < 0 ||
            s->padding[i] > CN_WINDOW_MAX)
            return cn_set_error(CN_EINVAL, "%s: axis %d: kernel %lld, stride %lld, dilation %lld "
                                "must be 1 to %d and padding %lld 0 to %d", what, i + 1,
                                (long long)s->kernel[i], (long long)s->stride[i],
                                (long long)s->dilation[i], CN_WINDOW_MAX,
                                (long long)s->padding[i], CN_WINDOW_MAX);
        t *= s->kernel[i];
        if (t > CN_GEMM_DIM_MAX / s->in)
            return cn_set_error(CN_EINVAL, "%s: %lld input channels times the kernel's taps "
                                "exceed %d", what, (long long)s->in, CN_GEMM_DIM_MAX);
    }
    *taps = t;
    return CN_OK;
}

cn_status cn_conv_new(const cn_conv_spec *spec, cn_layer **layer)
{
    if (!spec || !layer)
        return cn_set_error(CN_EINVAL, "conv: NULL argument");
    int64_t taps = 0;
    cn_status st = check_spec(spec, &taps);
    if (st)
        return st;
    cn_layer *l;
    if ((st = cn_layer_alloc(spec->dims == 2 ? CN_LAYER_CONV2D : CN_LAYER_CONV3D, &conv_ops, &l)))
        return st;
    conv_impl *c = calloc(1, sizeof *c);
    if (!c) {
        cn_layer_release(l);
        return cn_set_error(CN_ENOMEM, "conv: out of memory");
    }
    l->impl = c;
    c->spec = *spec;
    for (int i = spec->dims; i < CN_CONV_MAX_SPATIAL; i++) { /* unused entries normalised */
        c->spec.kernel[i] = c->spec.stride[i] = c->spec.dilation[i] = 1;
        c->spec.padding[i] = 0;
    }
    c->taps = taps;
    c->rows = spec->in * taps;
    c->pointwise = is_pointwise(spec);
    int64_t wdims[5] = {spec->out, spec->in}, zero = 0;
    for (int i = 0; i < spec->dims; i++)
        wdims[2 + i] = spec->kernel[i];
    if ((st = cn_tensor_new(2 + spec->dims, wdims, &c->weight)) ||
        (st = cn_tensor_new(2 + spec->dims, wdims, &c->grad_weight)) ||
        (spec->bias && ((st = cn_tensor_new(1, &spec->out, &c->bias)) ||
                        (st = cn_tensor_new(1, &spec->out, &c->grad_bias)))) ||
        (st = cn_tensor_new(1, &zero, &c->col)) || (st = cn_tensor_new(1, &zero, &c->dcol)) ||
        (st = cn_tensor_new(1, &zero, &c->prod))) {
        cn_layer_release(l);
        return st;
    }
    *layer = l;
    return CN_OK;
}

bool cn_conv_get_spec(const cn_layer *layer, cn_conv_spec *spec)
{
    if (!layer || (layer->kind != CN_LAYER_CONV2D && layer->kind != CN_LAYER_CONV3D))
        return false;
    *spec = impl_of(layer)->spec;
    return true;
}
