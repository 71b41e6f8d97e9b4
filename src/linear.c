/*
 * linear.c — the fully connected layer y = x·Wᵀ + b, Torch's nn.Linear.
 *
 * W is stored out × in (Torch and PyTorch order), so a saved weight reads the same in either.
 * All three products go through cn_gemm; the bias is written first and the product added onto it
 * (beta = 1), which saves a pass over the output.
 */
#include "layer_impl.h"

#include <string.h>

/* Rows and features of an input: N×D, or one D-vector. */
static cn_status input_rows(const cn_layer *l, const cn_tensor *in, int64_t *rows)
{
    int nd = cn_tensor_ndim(in);
    int64_t feat = cn_tensor_dim(in, nd - 1);
    if ((nd != 1 && nd != 2) || feat != l->in) {
        char s[96];
        return cn_set_error(CN_ESHAPE,
                            "linear: given input size %s, expected (N x %lld) or (%lld)",
                            cn_tensor_shape_str(in, s, sizeof s), (long long)l->in, (long long)l->in);
    }
    *rows = nd == 2 ? cn_tensor_dim(in, 0) : 1;
    return CN_OK;
}

static cn_status linear_forward(cn_layer *l, const cn_tensor *in)
{
    int64_t n = 0;
    cn_status st = input_rows(l, in, &n);
    if (st)
        return st;
    int64_t dims[2] = {n, l->out};
    st = cn_tensor_ndim(in) == 2 ? cn_tensor_resize(l->output, 2, dims)
                                 : cn_tensor_resize(l->output, 1, &l->out);
    if (st)
        return st;
    float *y = cn_tensor_data(l->output);
    const float *b = cn_tensor_cdata(l->bias);
    for (int64_t i = 0; i < n; i++)
        memcpy(y + i * l->out, b, (size_t)l->out * sizeof *y);
    cn_gemm(false, true, n, l->out, l->in, 1.0f, cn_tensor_cdata(in), l->in,
            cn_tensor_cdata(l->weight), l->in, 1.0f, y, l->out);
    return CN_OK;
}

static cn_status linear_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                                 bool want_grad_in)
{
    int64_t n = 0;
    cn_status st = input_rows(l, in, &n);
    if (st)
        return st;
    /* The input must be the one the gradient belongs to: a layer run alone since a container's
     * forward may hold another batch size in its buffers. */
    if (cn_tensor_numel(grad_out) != n * l->out) {
        char a[96], b[96];
        return cn_set_error(CN_ESHAPE, "linear backward: input %s does not match gradient %s",
                            cn_tensor_shape_str(in, a, sizeof a),
                            cn_tensor_shape_str(grad_out, b, sizeof b));
    }
    const float *gy = cn_tensor_cdata(grad_out);
    /* dW += gyᵀ·x ; db += Σ rows of gy */
    cn_gemm(true, false, l->out, l->in, n, 1.0f, gy, l->out, cn_tensor_cdata(in), l->in, 1.0f,
            cn_tensor_data(l->grad_weight), l->in);
    float *gb = cn_tensor_data(l->grad_bias);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < l->out; j++)
            gb[j] += gy[i * l->out + j];
    if (!want_grad_in)
        return CN_OK;
    if ((st = cn_tensor_resize_as(l->grad_input, in)))
        return st;
    /* dx = gy·W */
    cn_gemm(false, false, n, l->in, l->out, 1.0f, gy, l->out, cn_tensor_cdata(l->weight), l->in,
            0.0f, cn_tensor_data(l->grad_input), l->in);
    return CN_OK;
}

static cn_tensor *linear_output(cn_layer *l) { return l->output; }

static void linear_params(cn_layer *l, cn_tensor **params, cn_tensor **grads, size_t cap, size_t *n)
{
    cn_layer_push_param(l->weight, l->grad_weight, params, grads, cap, n);
    cn_layer_push_param(l->bias, l->grad_bias, params, grads, cap, n);
}

static void linear_destroy(cn_layer *l)
{
    cn_tensor_release(l->weight);
    cn_tensor_release(l->bias);
    cn_tensor_release(l->grad_weight);
    cn_tensor_release(l->grad_bias);
}

static void linear_init(cn_layer *l, cn_init_kind kind, float std, cn_rng *rng)
{
    cn_init_fill(l->weight, l->in, l->out, kind, std, rng);
    cn_tensor_fill(l->bias, 0.0f);
}

const cn_layer_ops cn_linear_ops = {linear_forward, linear_backward, linear_output, linear_params,
                                    linear_destroy, NULL, linear_init};

cn_status cn_linear_new(int64_t in, int64_t out, cn_layer **layer)
{
    if (!layer || in < 1 || out < 1)
        return cn_set_error(CN_EINVAL, "linear: sizes must be >= 1 (given %lld -> %lld)",
                            (long long)in, (long long)out);
    cn_layer *l;
    cn_status st = cn_layer_alloc(CN_LAYER_LINEAR, &cn_linear_ops, &l);
    if (st)
        return st;
    l->in = in;
    l->out = out;
    if ((st = cn_tensor_new2(out, in, &l->weight)) || (st = cn_tensor_new(1, &out, &l->bias)) ||
        (st = cn_tensor_new2(out, in, &l->grad_weight)) ||
        (st = cn_tensor_new(1, &out, &l->grad_bias))) {
        cn_layer_release(l);
        return st;
    }
    *layer = l;
    return CN_OK;
}
