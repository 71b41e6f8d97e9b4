/*
 * batchnorm.c — batch normalisation over dimension 1 of N×C or N×C×(spatial…) inputs (Torch's
 * BatchNormalization and SpatialBatchNormalization in one layer, PyTorch's BatchNorm1d/2d/3d).
 *
 * Training mode normalises with the batch's own mean and (biased) variance per channel and folds
 * them into the running statistics with momentum, taking the unbiased variance there as PyTorch
 * does; evaluation mode uses the running statistics, so a prediction does not depend on the rest
 * of its batch (which a tiled classifier relies on). The sums run in double: a channel of a patch
 * batch holds tens of thousands of values. The running statistics are buffers, not parameters:
 * the optimizer never sees them, the model file stores them ("running_mean", "running_var").
 */
#include "layer_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct bn_impl {
    int64_t features;               /* C */
    float eps, momentum;
    cn_tensor *weight, *bias;       /* γ, β: C each */
    cn_tensor *grad_weight, *grad_bias;
    cn_tensor *running_mean, *running_var;
    cn_tensor *xhat;                /* normalised input of the last forward */
    cn_tensor *inv_std;             /* C: 1/√(σ² + eps) used by the last forward */
    bool batch_stats;               /* the last forward used batch statistics */
} bn_impl;

static bn_impl *impl_of(const cn_layer *l) { return l->impl; }

/* N and the positions per sample S of an N×C×… input, or a shape error. */
static cn_status bn_sizes(const cn_layer *l, const cn_tensor *in, int64_t *n, int64_t *s)
{
    const bn_impl *b = impl_of(l);
    int nd = cn_tensor_ndim(in);
    if (nd < 2 || cn_tensor_dim(in, 1) != b->features) {
        char buf[96];
        return cn_set_error(CN_ESHAPE, "batchnorm: given input size %s, expected (N x %lld) or "
                            "(N x %lld x ...)", cn_tensor_shape_str(in, buf, sizeof buf),
                            (long long)b->features, (long long)b->features);
    }
    *n = cn_tensor_dim(in, 0);
    *s = 1;
    for (int i = 2; i < nd; i++)
        *s *= cn_tensor_dim(in, i);
    return CN_OK;
}

static cn_status bn_forward(cn_layer *l, const cn_tensor *in)
{
    bn_impl *b = impl_of(l);
    int64_t N, S;
    cn_status st = bn_sizes(l, in, &N, &S);
    if (st)
        return st;
    const int64_t C = b->features, M = N * S;
    if (l->training && M < 2) {
        char buf[96];
        return cn_set_error(CN_ESHAPE, "batchnorm: training needs more than one value per "
                            "channel (given input size %s)",
                            cn_tensor_shape_str(in, buf, sizeof buf));
    }
    if ((st = cn_tensor_resize_as(l->output, in)) || (st = cn_tensor_resize_as(b->xhat, in)))
        return st;
    const float *x = cn_tensor_cdata(in), *g = cn_tensor_cdata(b->weight),
                *be = cn_tensor_cdata(b->bias);
    float *y = cn_tensor_data(l->output), *xh = cn_tensor_data(b->xhat);
    float *rm = cn_tensor_data(b->running_mean), *rv = cn_tensor_data(b->running_var);
    float *is = cn_tensor_data(b->inv_std);
    b->batch_stats = l->training;
    for (int64_t c = 0; c < C; c++) {
        double mean, var;
        if (l->training) {
            double sum = 0, sq = 0;
            for (int64_t n = 0; n < N; n++) {
                const float *p = x + (n * C + c) * S;
                for (int64_t i = 0; i < S; i++)
                    sum += p[i];
            }
            mean = sum / (double)M;
            for (int64_t n = 0; n < N; n++) {
                const float *p = x + (n * C + c) * S;
                for (int64_t i = 0; i < S; i++)
                    sq += (p[i] - mean) * (p[i] - mean);
            }
            var = sq / (double)M;
            double m = b->momentum;
            rm[c] = (float)((1 - m) * rm[c] + m * mean);
            rv[c] = (float)((1 - m) * rv[c] + m * sq / (double)(M - 1));
        } else {
            mean = rm[c];
            var = rv[c];
        }
        float inv = (float)(1.0 / sqrt(var + b->eps)), mu = (float)mean;
        is[c] = inv;
        for (int64_t n = 0; n < N; n++) {
            const float *p = x + (n * C + c) * S;
            float *h = xh + (n * C + c) * S, *q = y + (n * C + c) * S;
            for (int64_t i = 0; i < S; i++) {
                h[i] = (p[i] - mu) * inv;
                q[i] = g[c] * h[i] + be[c];
            }
        }
    }
    return CN_OK;
}

static cn_status bn_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                             bool want_grad_in)
{
    bn_impl *b = impl_of(l);
    int64_t N, S;
    cn_status st = bn_sizes(l, in, &N, &S);
    if (st)
        return st;
    if (!cn_tensor_same_shape(in, b->xhat))
        return cn_set_error(CN_ESHAPE, "batchnorm backward: input differs from the forward input");
    if (want_grad_in && (st = cn_tensor_resize_as(l->grad_input, in)))
        return st;
    const int64_t C = b->features, M = N * S;
    const float *gy = cn_tensor_cdata(grad_out), *xh = cn_tensor_cdata(b->xhat);
    const float *g = cn_tensor_cdata(b->weight), *is = cn_tensor_cdata(b->inv_std);
    float *gw = cn_tensor_data(b->grad_weight), *gb = cn_tensor_data(b->grad_bias);
    float *gx = want_grad_in ? cn_tensor_data(l->grad_input) : NULL;
    for (int64_t c = 0; c < C; c++) {
        double sum_dy = 0, sum_dy_xh = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *d = gy + (n * C + c) * S, *h = xh + (n * C + c) * S;
            for (int64_t i = 0; i < S; i++) {
                sum_dy += d[i];
                sum_dy_xh += (double)d[i] * h[i];
            }
        }
        gb[c] += (float)sum_dy;
        gw[c] += (float)sum_dy_xh;
        if (!gx)
            continue;
        /* batch statistics: dx = γ·inv/M · (M·dy − Σdy − x̂·Σ(dy·x̂)); running: dx = γ·inv·dy */
        float k = g[c] * is[c];
        float mdy = b->batch_stats ? (float)(sum_dy / (double)M) : 0.0f;
        float mdyx = b->batch_stats ? (float)(sum_dy_xh / (double)M) : 0.0f;
        for (int64_t n = 0; n < N; n++) {
            const float *d = gy + (n * C + c) * S, *h = xh + (n * C + c) * S;
            float *q = gx + (n * C + c) * S;
            for (int64_t i = 0; i < S; i++)
                q[i] = k * (d[i] - mdy - h[i] * mdyx);
        }
    }
    return CN_OK;
}

static cn_tensor *bn_output(cn_layer *l) { return l->output; }

static void bn_params(cn_layer *l, cn_tensor **params, cn_tensor **grads, size_t cap, size_t *n)
{
    bn_impl *b = impl_of(l);
    cn_layer_push_param(b->weight, b->grad_weight, params, grads, cap, n);
    cn_layer_push_param(b->bias, b->grad_bias, params, grads, cap, n);
}

/* γ = 1, β = 0 whatever the scheme: the scheme is for weights that mix inputs. */
static void bn_init(cn_layer *l, cn_init_kind kind, float std, cn_rng *rng)
{
    (void)kind;
    (void)std;
    (void)rng;
    cn_tensor_fill(impl_of(l)->weight, 1.0f);
    cn_tensor_fill(impl_of(l)->bias, 0.0f);
}

static void bn_destroy(cn_layer *l)
{
    bn_impl *b = impl_of(l);
    if (!b)
        return;
    cn_tensor *t[] = {b->weight, b->bias, b->grad_weight, b->grad_bias, b->running_mean,
                      b->running_var, b->xhat, b->inv_std};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        cn_tensor_release(t[i]);
    free(b);
}

static const cn_layer_ops bn_ops = {bn_forward, bn_backward, bn_output, bn_params, bn_destroy,
                                    NULL, bn_init};

cn_status cn_batchnorm_new(int64_t features, float eps, float momentum, cn_layer **layer)
{
    if (!layer || features < 1 || features > CN_CHANNELS_MAX || !(eps > 0 && isfinite(eps)) ||
        !(momentum >= 0 && momentum <= 1))
        return cn_set_error(CN_EINVAL, "batchnorm: features %lld must be 1 to %d, eps %g > 0, "
                            "momentum %g in [0, 1]", (long long)features, CN_CHANNELS_MAX,
                            (double)eps, (double)momentum);
    cn_status st = cn_layer_alloc(CN_LAYER_BATCHNORM, &bn_ops, layer);
    if (st)
        return st;
    bn_impl *b = calloc(1, sizeof *b);
    if (!b) {
        cn_layer_release(*layer);
        return cn_set_error(CN_ENOMEM, "batchnorm: out of memory");
    }
    (*layer)->impl = b;
    b->features = features;
    b->eps = eps;
    b->momentum = momentum;
    int64_t zero = 0;
    cn_tensor **t[] = {&b->weight, &b->bias, &b->grad_weight, &b->grad_bias, &b->running_mean,
                       &b->running_var, &b->inv_std};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if ((st = cn_tensor_new(1, &features, t[i])))
            break;
    if (st || (st = cn_tensor_new(1, &zero, &b->xhat))) {
        cn_layer_release(*layer);
        return st;
    }
    cn_tensor_fill(b->weight, 1.0f);
    cn_tensor_fill(b->running_var, 1.0f);
    return CN_OK;
}

bool cn_batchnorm_get(const cn_layer *layer, int64_t *features, float *eps, float *momentum)
{
    if (!layer || layer->kind != CN_LAYER_BATCHNORM)
        return false;
    const bn_impl *b = impl_of(layer);
    if (features)
        *features = b->features;
    if (eps)
        *eps = b->eps;
    if (momentum)
        *momentum = b->momentum;
    return true;
}

cn_tensor *cn_batchnorm_running_mean(cn_layer *layer)
{
    return layer && layer->kind == CN_LAYER_BATCHNORM ? impl_of(layer)->running_mean : NULL;
}

cn_tensor *cn_batchnorm_running_var(cn_layer *layer)
{
    return layer && layer->kind == CN_LAYER_BATCHNORM ? impl_of(layer)->running_var : NULL;
}
