/*
 * conv1x1.c — the direct path of pointwise (1×1, stride 1, unpadded) convolutions.
 *
 * Such a convolution mixes channels at each position and nothing else: on a sample stored C × P
 * it is the product W (O × C) · X_n (C × P), which lands directly in the sample's O × P output.
 * Unfolding would only copy the input; here nothing is copied. It is the spectral-mixing layer of
 * hyperspectral patch networks (204 bands → 32 channels at every pixel of the patch).
 */
#include "conv_impl.h"

void cn_conv_pointwise_forward(const conv_impl *c, const cn_conv_geom *g, const float *x,
                               float *y)
{
    const int64_t C = g->c, O = c->spec.out, P = g->out[0] * g->out[1] * g->out[2];
    const float *w = cn_tensor_cdata(c->weight);
    for (int64_t n = 0; n < g->n; n++)
        cn_gemm(false, false, O, P, C, 1.0f, w, C, x + n * C * P, P, 1.0f, y + n * O * P, P);
}

void cn_conv_pointwise_backward(conv_impl *c, const cn_conv_geom *g, const float *x,
                                const float *gy, float *gx)
{
    const int64_t C = g->c, O = c->spec.out, P = g->out[0] * g->out[1] * g->out[2];
    const float *w = cn_tensor_cdata(c->weight);
    float *gw = cn_tensor_data(c->grad_weight);
    for (int64_t n = 0; n < g->n; n++)
        cn_gemm(false, true, O, C, P, 1.0f, gy + n * O * P, P, x + n * C * P, P, 1.0f, gw, C);
    if (gx)
        for (int64_t n = 0; n < g->n; n++)
            cn_gemm(true, false, C, P, O, 1.0f, w, C, gy + n * O * P, P, 0.0f, gx + n * C * P, P);
}
