/*
 * activation.c — the element-wise activations: sigmoid, tanh, ReLU, leaky ReLU, ELU and the
 * perceptron's step.
 *
 * Backward uses whichever of input or output gives the derivative most cheaply: the output for
 * sigmoid and tanh (σ' = y(1−y), tanh' = 1−y²), the input for the piecewise kinds. The step's true
 * derivative is zero almost everywhere; perceptron training uses CN_LOSS_PERCEPTRON on the scores
 * instead of differentiating through it. Large tensors (feature maps) are split over the threads
 * of cn_set_threads.
 */
#include "layer_impl.h"
#include "parallel.h"

#include <math.h>

/* The tensors of one pass, split over threads by element ranges (results do not depend on the
 * split: every element is computed alone). */
typedef struct act_job {
    cn_layer_kind kind;
    float a;                  /* leaky slope / ELU alpha */
    const float *x, *y, *gy;  /* input, output, output gradient (backward) */
    float *out;               /* y (forward) or gx (backward) */
} act_job;

/* Elements per part: a feature map of a patch network (a million values) splits, a dense
 * layer's output does not. */
#define ACT_GRAIN (1 << 15)

static void forward_range(void *ctx, int part, int64_t b, int64_t e)
{
    (void)part;
    const act_job *j = ctx;
    const float *x = j->x, a = j->a;
    float *y = j->out;
    switch (j->kind) {
    case CN_LAYER_SIGMOID:
        for (int64_t i = b; i < e; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case CN_LAYER_TANH:
        for (int64_t i = b; i < e; i++)
            y[i] = tanhf(x[i]);
        break;
    case CN_LAYER_RELU:
        for (int64_t i = b; i < e; i++)
            y[i] = x[i] > 0 ? x[i] : 0.0f;
        break;
    case CN_LAYER_LEAKY_RELU:
        for (int64_t i = b; i < e; i++)
            y[i] = x[i] > 0 ? x[i] : a * x[i];
        break;
    case CN_LAYER_ELU:
        for (int64_t i = b; i < e; i++)
            y[i] = x[i] > 0 ? x[i] : a * expm1f(x[i]);
        break;
    case CN_LAYER_STEP:
        for (int64_t i = b; i < e; i++)
            y[i] = x[i] > 0 ? 1.0f : 0.0f;
        break;
    default:
        break; /* kinds are checked at construction */
    }
}

static void backward_range(void *ctx, int part, int64_t b, int64_t e)
{
    (void)part;
    const act_job *j = ctx;
    const float *x = j->x, *y = j->y, *gy = j->gy, a = j->a;
    float *gx = j->out;
    switch (j->kind) {
    case CN_LAYER_SIGMOID:
        for (int64_t i = b; i < e; i++)
            gx[i] = gy[i] * y[i] * (1.0f - y[i]);
        break;
    case CN_LAYER_TANH:
        for (int64_t i = b; i < e; i++)
            gx[i] = gy[i] * (1.0f - y[i] * y[i]);
        break;
    case CN_LAYER_RELU:
        /* gy is read unconditionally so the select has no branch and vectorises: a branch on
         * the sign of a feature map mispredicts half the time */
        for (int64_t i = b; i < e; i++) {
            float g = gy[i];
            gx[i] = x[i] > 0 ? g : 0.0f;
        }
        break;
    case CN_LAYER_LEAKY_RELU:
        for (int64_t i = b; i < e; i++) {
            float g = gy[i];
            gx[i] = x[i] > 0 ? g : a * g;
        }
        break;
    case CN_LAYER_ELU:
        for (int64_t i = b; i < e; i++)
            gx[i] = x[i] > 0 ? gy[i] : gy[i] * (y[i] + a);
        break;
    case CN_LAYER_STEP:
        for (int64_t i = b; i < e; i++)
            gx[i] = 0.0f;
        break;
    default:
        break;
    }
}

static cn_status act_forward(cn_layer *l, const cn_tensor *in)
{
    cn_status st = cn_tensor_resize_as(l->output, in);
    if (st)
        return st;
    act_job j = {l->kind, l->param, cn_tensor_cdata(in), NULL, NULL, cn_tensor_data(l->output)};
    cn_parallel_for(cn_tensor_numel(in), ACT_GRAIN, forward_range, &j);
    return CN_OK;
}

static cn_status act_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                              bool want_grad_in)
{
    if (!want_grad_in)
        return CN_OK; /* no parameters: nothing else to do */
    if (!cn_tensor_same_shape(in, l->output))
        return cn_set_error(CN_ESHAPE, "%s backward: input differs from the forward input",
                            cn_layer_kind_name(l->kind));
    cn_status st = cn_tensor_resize_as(l->grad_input, in);
    if (st)
        return st;
    act_job j = {l->kind, l->param, cn_tensor_cdata(in), cn_tensor_cdata(l->output),
                 cn_tensor_cdata(grad_out), cn_tensor_data(l->grad_input)};
    cn_parallel_for(cn_tensor_numel(in), ACT_GRAIN, backward_range, &j);
    return CN_OK;
}

static cn_tensor *act_output(cn_layer *l) { return l->output; }

const cn_layer_ops cn_activation_ops = {act_forward, act_backward, act_output, NULL, NULL, NULL,
                                        NULL};

bool cn_layer_kind_is_activation(int kind)
{
    return kind >= CN_LAYER_SIGMOID && kind <= CN_LAYER_STEP;
}

cn_status cn_activation_new(cn_layer_kind kind, float param, cn_layer **layer)
{
    if (!layer || !cn_layer_kind_is_activation(kind))
        return cn_set_error(CN_EINVAL, "activation: unknown kind %d", (int)kind);
    if (!isfinite(param) || ((kind == CN_LAYER_ELU) && param < 0))
        return cn_set_error(CN_EINVAL, "%s: parameter %g out of range", cn_layer_kind_name(kind),
                            (double)param);
    cn_status st = cn_layer_alloc(kind, &cn_activation_ops, layer);
    if (!st)
        (*layer)->param = kind == CN_LAYER_LEAKY_RELU || kind == CN_LAYER_ELU ? param : 0.0f;
    return st;
}
