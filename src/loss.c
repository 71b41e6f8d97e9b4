/*
 * loss.c — the criterions: softmax cross-entropy, mean squared error, binary cross-entropy and the
 * perceptron criterion.
 *
 * Softmax cross-entropy is fused: log-sum-exp with the row maximum subtracted, so logits of 1e4
 * give a finite loss and gradient, and the gradient is softmax − one-hot without forming log p.
 * BCE clamps probabilities to [1e-12, 1 − 1e-12] (Torch clamps the log the same way).
 */
#include "cropnet.h"

#include <math.h>
#include <string.h>

static const char *const loss_names[CN_LOSS_KIND_COUNT] = {"cross_entropy", "mse", "bce",
                                                           "perceptron"};

const char *cn_loss_kind_name(cn_loss_kind kind)
{
    return (unsigned)kind < CN_LOSS_KIND_COUNT ? loss_names[kind] : NULL;
}

int cn_loss_kind_from_name(const char *name)
{
    for (int i = 0; name && i < CN_LOSS_KIND_COUNT; i++)
        if (strcmp(name, loss_names[i]) == 0)
            return i;
    return -1;
}

/* Checks shapes; for cross-entropy sets rows and classes and validates every class id. */
static cn_status check(cn_loss_kind kind, const cn_tensor *pred, const cn_tensor *target,
                       int64_t *rows, int64_t *cols)
{
    char a[96], b[96];
    if ((unsigned)kind >= CN_LOSS_KIND_COUNT)
        return cn_set_error(CN_EINVAL, "loss: unknown kind %d", (int)kind);
    if (kind == CN_LOSS_SOFTMAX_CE) {
        int nd = cn_tensor_ndim(pred);
        *rows = nd == 2 ? cn_tensor_dim(pred, 0) : 1;
        *cols = cn_tensor_dim(pred, nd - 1);
        if (nd > 2 || cn_tensor_numel(target) != *rows || *cols < 1)
            return cn_set_error(CN_ESHAPE,
                                "cross_entropy: given scores %s and targets %s; expected N x K "
                                "scores and N class ids",
                                cn_tensor_shape_str(pred, a, sizeof a),
                                cn_tensor_shape_str(target, b, sizeof b));
        const float *t = cn_tensor_cdata(target);
        for (int64_t i = 0; i < *rows; i++)
            if (!(t[i] >= 0 && t[i] < (float)*cols) || t[i] != floorf(t[i]))
                return cn_set_error(CN_EINVAL, "cross_entropy: target %g of row %lld is not a "
                                    "class id in 0..%lld", (double)t[i], (long long)i + 1,
                                    (long long)*cols - 1);
        return CN_OK;
    }
    if (cn_tensor_numel(pred) != cn_tensor_numel(target))
        return cn_set_error(CN_ESHAPE, "%s: given input %s and target %s of different sizes",
                            loss_names[kind], cn_tensor_shape_str(pred, a, sizeof a),
                            cn_tensor_shape_str(target, b, sizeof b));
    *rows = cn_tensor_numel(pred);
    *cols = 1;
    return CN_OK;
}

static double clamp_p(double p) { return p < 1e-12 ? 1e-12 : p > 1 - 1e-12 ? 1 - 1e-12 : p; }

cn_status cn_loss_forward(cn_loss_kind kind, const cn_tensor *pred, const cn_tensor *target,
                          double *loss)
{
    int64_t n, k;
    cn_status st = check(kind, pred, target, &n, &k);
    if (st)
        return st;
    const float *x = cn_tensor_cdata(pred), *t = cn_tensor_cdata(target);
    double sum = 0;
    switch (kind) {
    case CN_LOSS_SOFTMAX_CE:
        for (int64_t i = 0; i < n; i++) {
            const float *row = x + i * k;
            float m = row[0];
            for (int64_t j = 1; j < k; j++)
                m = row[j] > m ? row[j] : m;
            double z = 0;
            for (int64_t j = 0; j < k; j++)
                z += exp((double)row[j] - m);
            sum += log(z) + m - row[(int64_t)t[i]];
        }
        break;
    case CN_LOSS_MSE:
        for (int64_t i = 0; i < n; i++)
            sum += ((double)x[i] - t[i]) * ((double)x[i] - t[i]);
        break;
    case CN_LOSS_BCE:
        for (int64_t i = 0; i < n; i++) {
            double p = clamp_p(x[i]);
            sum -= t[i] * log(p) + (1.0 - t[i]) * log(1.0 - p);
        }
        break;
    case CN_LOSS_PERCEPTRON:
        for (int64_t i = 0; i < n; i++) {
            double m = -(2.0 * t[i] - 1.0) * x[i];
            sum += m > 0 ? m : 0;
        }
        break;
    default:
        break;
    }
    *loss = n ? sum / (double)n : 0;
    return CN_OK;
}

cn_status cn_loss_backward(cn_loss_kind kind, const cn_tensor *pred, const cn_tensor *target,
                           cn_tensor *grad)
{
    int64_t n, k;
    cn_status st = check(kind, pred, target, &n, &k);
    if (st || (st = cn_tensor_resize_as(grad, pred)))
        return st;
    const float *x = cn_tensor_cdata(pred), *t = cn_tensor_cdata(target);
    float *g = cn_tensor_data(grad);
    float inv_n = n ? 1.0f / (float)n : 0.0f;
    switch (kind) {
    case CN_LOSS_SOFTMAX_CE:
        for (int64_t i = 0; i < n; i++) {
            const float *row = x + i * k;
            float *grow = g + i * k;
            float m = row[0];
            for (int64_t j = 1; j < k; j++)
                m = row[j] > m ? row[j] : m;
            float z = 0;
            for (int64_t j = 0; j < k; j++)
                z += grow[j] = expf(row[j] - m);
            float s = inv_n / z;
            for (int64_t j = 0; j < k; j++)
                grow[j] *= s;
            grow[(int64_t)t[i]] -= inv_n;
        }
        break;
    case CN_LOSS_MSE:
        for (int64_t i = 0; i < n; i++)
            g[i] = 2.0f * (x[i] - t[i]) * inv_n;
        break;
    case CN_LOSS_BCE:
        for (int64_t i = 0; i < n; i++) {
            double p = clamp_p(x[i]);
            g[i] = (float)((p - t[i]) / (p * (1.0 - p)) * inv_n);
        }
        break;
    case CN_LOSS_PERCEPTRON:
        /* A subgradient of max(0, -y·s), y = 2t−1: step(s) − t, which is Rosenblatt's error
         * term (the score 0 counts as class 0, as the step layer does). */
        for (int64_t i = 0; i < n; i++)
            g[i] = ((x[i] > 0 ? 1.0f : 0.0f) - t[i]) * inv_n;
        break;
    default:
        break;
    }
    return CN_OK;
}
