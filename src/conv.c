/*
 * conv.c — 2-D and 3-D convolution layers (Torch's SpatialConvolution and VolumetricConvolution,
 * PyTorch's Conv2d and Conv3d): the spec, the shape rules and the parameters.
 *
 * The arithmetic lives in conv_chunks.c, which runs the batch in cache-sized chunks over the
 * threads, each chunk by the direct AVX-512 kernels of conv_direct.c or by im2col (im2col.c) +
 * GEMM; a 1×1 convolution with stride 1 and no padding — the spectral-mixing layer — is a GEMM
 * over channels on each sample as it lies. 2-D is the 3-D code with a depth of 1.
 */
#include "conv_impl.h"

#include <stdio.h>
#include <stdlib.h>

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
    return cn_conv_run_forward(c, &g, cn_tensor_cdata(in), cn_tensor_data(l->output));
}

static cn_status conv_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                               bool want_grad_in)
{
    conv_impl *c = impl_of(l);
    cn_conv_geom g;
    cn_status st = geometry(l, in, &g);
    if (st)
        return st;
    /* cn_layer_backward matched grad_out with the last output; the input must give that too */
    bool same = cn_tensor_dim(grad_out, 0) == g.n;
    for (int i = 0; same && i < c->spec.dims; i++)
        same = cn_tensor_dim(grad_out, 2 + i) == g.out[3 - c->spec.dims + i];
    if (!same) {
        char a[96], b[96];
        return cn_set_error(CN_ESHAPE, "%s backward: input %s does not give the gradient's size %s",
                            name_of(l), cn_tensor_shape_str(in, a, sizeof a),
                            cn_tensor_shape_str(grad_out, b, sizeof b));
    }
    if (want_grad_in && (st = cn_tensor_resize_as(l->grad_input, in)))
        return st;
    return cn_conv_run_backward(c, &g, cn_tensor_cdata(in), cn_tensor_cdata(grad_out),
                                want_grad_in ? cn_tensor_data(l->grad_input) : NULL);
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
    cn_conv_parts_free(c);
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
    int64_t wdims[5] = {spec->out, spec->in};
    for (int i = 0; i < spec->dims; i++)
        wdims[2 + i] = spec->kernel[i];
    if ((st = cn_tensor_new(2 + spec->dims, wdims, &c->weight)) ||
        (st = cn_tensor_new(2 + spec->dims, wdims, &c->grad_weight)) ||
        (spec->bias && ((st = cn_tensor_new(1, &spec->out, &c->bias)) ||
                        (st = cn_tensor_new(1, &spec->out, &c->grad_bias))))) {
        cn_layer_release(l);
        return st;
    }
    *layer = l;
    return CN_OK;
}

bool cn_conv_is_pointwise(const cn_layer *layer)
{
    return layer && (layer->kind == CN_LAYER_CONV2D || layer->kind == CN_LAYER_CONV3D) &&
           impl_of(layer)->pointwise;
}

bool cn_conv_get_spec(const cn_layer *layer, cn_conv_spec *spec)
{
    if (!layer || (layer->kind != CN_LAYER_CONV2D && layer->kind != CN_LAYER_CONV3D))
        return false;
    *spec = impl_of(layer)->spec;
    return true;
}
