/*
 * residual.c — the residual block y = inner(x) + shortcut(x) of ResNet, the shortcut being the
 * identity or a projection (usually a 1×1 convolution, strided when inner downsamples).
 *
 * The block is a container: it owns references to inner and projection, and modes,
 * initialisation and parameters go through them (inner's parameters first). Any activation
 * after the sum is the next layer's business, as in Torch, so the block stays one idea. Backward
 * sends the output gradient down both branches and adds what comes back.
 */
#include "layer_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct residual_impl {
    cn_layer *inner;       /* owned reference */
    cn_layer *projection;  /* owned reference, or NULL for the identity shortcut */
} residual_impl;

static residual_impl *impl_of(const cn_layer *l) { return l->impl; }

static cn_status res_forward(cn_layer *l, const cn_tensor *in)
{
    residual_impl *r = impl_of(l);
    cn_tensor *a, *b = (cn_tensor *)in;
    cn_status st = cn_layer_forward(r->inner, in, &a);
    if (!st && r->projection)
        st = cn_layer_forward(r->projection, in, &b);
    if (st)
        return st;
    if (!cn_tensor_same_shape(a, b)) {
        char sa[96], sb[96];
        return cn_set_error(CN_ESHAPE, "residual: inner output %s and shortcut output %s differ "
                            "(use a projection that maps the input to the inner output's size)",
                            cn_tensor_shape_str(a, sa, sizeof sa),
                            cn_tensor_shape_str(b, sb, sizeof sb));
    }
    if ((st = cn_tensor_resize_as(l->output, a)))
        return st;
    const float *pa = cn_tensor_cdata(a), *pb = cn_tensor_cdata(b);
    float *y = cn_tensor_data(l->output);
    for (int64_t i = 0, n = cn_tensor_numel(a); i < n; i++)
        y[i] = pa[i] + pb[i];
    return CN_OK;
}

static cn_status res_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                              bool want_grad_in)
{
    residual_impl *r = impl_of(l);
    cn_tensor *ga = NULL, *gb = NULL;
    cn_status st = cn_layer_backward(r->inner, in, grad_out, want_grad_in ? &ga : NULL);
    if (!st && r->projection)
        st = cn_layer_backward(r->projection, in, grad_out, want_grad_in ? &gb : NULL);
    if (st || !want_grad_in)
        return st;
    if (!r->projection)
        gb = (cn_tensor *)grad_out;
    if ((st = cn_tensor_resize_as(l->grad_input, in)))
        return st;
    if (cn_tensor_numel(ga) != cn_tensor_numel(in) || cn_tensor_numel(gb) != cn_tensor_numel(in))
        return cn_set_error(CN_ESHAPE, "residual backward: input differs from the forward input");
    const float *pa = cn_tensor_cdata(ga), *pb = cn_tensor_cdata(gb);
    float *gx = cn_tensor_data(l->grad_input);
    for (int64_t i = 0, n = cn_tensor_numel(in); i < n; i++)
        gx[i] = pa[i] + pb[i];
    return CN_OK;
}

static cn_tensor *res_output(cn_layer *l) { return l->output; }

static void res_params(cn_layer *l, cn_tensor **params, cn_tensor **grads, size_t cap, size_t *n)
{
    residual_impl *r = impl_of(l);
    if (r->inner->ops->params)
        r->inner->ops->params(r->inner, params, grads, cap, n);
    if (r->projection && r->projection->ops->params)
        r->projection->ops->params(r->projection, params, grads, cap, n);
}

static size_t res_children(cn_layer *l, cn_layer **out, size_t cap)
{
    residual_impl *r = impl_of(l);
    if (cap > 0)
        out[0] = r->inner;
    if (cap > 1 && r->projection)
        out[1] = r->projection;
    return r->projection ? 2 : 1;
}

static void res_destroy(cn_layer *l)
{
    residual_impl *r = impl_of(l);
    if (!r)
        return;
    cn_layer_release(r->inner);
    cn_layer_release(r->projection);
    free(r);
}

static const cn_layer_ops residual_ops = {res_forward, res_backward, res_output, res_params,
                                          res_destroy, res_children, NULL};

cn_status cn_residual_new(cn_layer *inner, cn_layer *projection, cn_layer **layer)
{
    if (!inner || !layer)
        return cn_set_error(CN_EINVAL, "residual: needs an inner layer");
    /* A layer keeps one output buffer, so the two branches must not share one. */
    if (projection &&
        (cn_layer_contains(inner, projection) || cn_layer_contains(projection, inner)))
        return cn_set_error(CN_EINVAL, "residual: the projection and the inner layer must be "
                            "distinct and not inside each other");
    cn_status st = cn_layer_alloc(CN_LAYER_RESIDUAL, &residual_ops, layer);
    if (st)
        return st;
    residual_impl *r = calloc(1, sizeof *r);
    if (!r) {
        cn_layer_release(*layer);
        return cn_set_error(CN_ENOMEM, "residual: out of memory");
    }
    r->inner = cn_layer_retain(inner);
    r->projection = cn_layer_retain(projection);
    (*layer)->impl = r;
    (*layer)->training = inner->training;
    return CN_OK;
}

cn_layer *cn_residual_inner(cn_layer *layer)
{
    return layer && layer->kind == CN_LAYER_RESIDUAL ? impl_of(layer)->inner : NULL;
}

cn_layer *cn_residual_projection(cn_layer *layer)
{
    return layer && layer->kind == CN_LAYER_RESIDUAL ? impl_of(layer)->projection : NULL;
}
