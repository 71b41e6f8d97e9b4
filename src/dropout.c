/*
 * dropout.c — inverted dropout (Torch's nn.Dropout with v2 scaling, PyTorch's Dropout).
 *
 * While training, each value is kept with probability 1 − p and scaled by 1/(1 − p), so the
 * expected output equals the input and evaluation mode is the plain identity: nothing needs
 * rescaling after training. The mask comes from the layer's own xoshiro generator (seeded at
 * construction and again by cn_layer_init), never from time or thread timing, so a seed fixes
 * every mask of a training run. Backward multiplies by the same mask.
 */
#include "layer_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct dropout_impl {
    cn_rng rng;        /* the mask generator */
    cn_tensor *mask;   /* 0 or 1/(1 − p) per value of the last training forward */
    bool masked;       /* the last forward applied the mask (training mode, p > 0) */
} dropout_impl;

static dropout_impl *impl_of(const cn_layer *l) { return l->impl; }

static cn_status dropout_forward(cn_layer *l, const cn_tensor *in)
{
    dropout_impl *d = impl_of(l);
    cn_status st = cn_tensor_resize_as(l->output, in);
    if (st)
        return st;
    const float *x = cn_tensor_cdata(in);
    float *y = cn_tensor_data(l->output);
    int64_t n = cn_tensor_numel(in);
    d->masked = l->training && l->param > 0;
    if (!d->masked) {
        memcpy(y, x, (size_t)n * sizeof *y);
        return CN_OK;
    }
    if ((st = cn_tensor_resize_as(d->mask, in)))
        return st;
    float *m = cn_tensor_data(d->mask);
    const double p = l->param;
    const float scale = (float)(1.0 / (1.0 - p));
    for (int64_t i = 0; i < n; i++) {
        m[i] = cn_rng_uniform(&d->rng) < p ? 0.0f : scale;
        y[i] = x[i] * m[i];
    }
    return CN_OK;
}

static cn_status dropout_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                                  bool want_grad_in)
{
    dropout_impl *d = impl_of(l);
    if (!want_grad_in)
        return CN_OK;
    if (!cn_tensor_same_shape(in, grad_out) ||
        (d->masked && !cn_tensor_same_shape(in, d->mask))) {
        char a[96], b[96];
        return cn_set_error(CN_ESHAPE, "dropout backward: input %s does not match gradient %s",
                            cn_tensor_shape_str(in, a, sizeof a),
                            cn_tensor_shape_str(grad_out, b, sizeof b));
    }
    cn_status st = cn_tensor_resize_as(l->grad_input, in);
    if (st)
        return st;
    const float *gy = cn_tensor_cdata(grad_out);
    float *gx = cn_tensor_data(l->grad_input);
    int64_t n = cn_tensor_numel(in);
    if (!d->masked) {
        memcpy(gx, gy, (size_t)n * sizeof *gx);
        return CN_OK;
    }
    const float *m = cn_tensor_cdata(d->mask);
    for (int64_t i = 0; i < n; i++)
        gx[i] = gy[i] * m[i];
    return CN_OK;
}

static cn_tensor *dropout_output(cn_layer *l) { return l->output; }

static void dropout_init(cn_layer *l, cn_init_kind kind, float std, cn_rng *rng)
{
    (void)kind;
    (void)std;
    cn_rng_seed(&impl_of(l)->rng, cn_rng_next(rng));
}

static void dropout_destroy(cn_layer *l)
{
    dropout_impl *d = impl_of(l);
    if (d)
        cn_tensor_release(d->mask);
    free(d);
}

static const cn_layer_ops dropout_ops = {dropout_forward, dropout_backward, dropout_output, NULL,
                                         dropout_destroy, NULL, dropout_init};

cn_status cn_dropout_new(float p, uint64_t seed, cn_layer **layer)
{
    if (!layer || !(p >= 0 && p < 1))
        return cn_set_error(CN_EINVAL, "dropout: probability %g must be in [0, 1)", (double)p);
    cn_status st = cn_layer_alloc(CN_LAYER_DROPOUT, &dropout_ops, layer);
    if (st)
        return st;
    dropout_impl *d = calloc(1, sizeof *d);
    int64_t zero = 0;
    if (!d)
        st = cn_set_error(CN_ENOMEM, "dropout: out of memory");
    else
        st = cn_tensor_new(1, &zero, &d->mask);
    if (st) {
        free(d);
        cn_layer_release(*layer);
        return st;
    }
    cn_rng_seed(&d->rng, seed);
    (*layer)->impl = d;
    (*layer)->param = p;
    return CN_OK;
}

void cn_dropout_seed(cn_layer *layer, uint64_t seed)
{
    if (layer && layer->kind == CN_LAYER_DROPOUT)
        cn_rng_seed(&impl_of(layer)->rng, seed);
}
