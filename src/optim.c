/*
 * optim.c — the optimizers of Torch's optim package: SGD (with momentum, dampening and Nesterov),
 * RMSProp and Adam, with Torch's configuration keys, defaults and update formulas.
 *
 * Torch's formulas, not PyTorch's, where they differ: SGD's dampening defaults to the momentum
 * value and the first step copies the gradient into the momentum buffer; Adam folds the bias
 * corrections into the step size and adds eps to sqrt(v) (not to sqrt(v̂)). Learning-rate decay
 * is lr / (1 + t·lr_decay) with t the number of steps taken so far.
 */
#include "cropnet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cn_optim {
    cn_optim_kind kind;
    cn_optim_config config; /* validated copy; config.lr is the current base rate */
    int64_t steps;          /* updates done (Torch's evalCounter / t) */
    size_t nparams;         /* parameter tensors the state is sized for; 0 before the first step */
    int64_t *numel;         /* element count of each parameter tensor */
    float **buf1;           /* momentum buffer / RMSProp mean square / Adam first moment */
    float **buf2;           /* Adam second moment */
};

static const char *const optim_names[CN_OPTIM_KIND_COUNT] = {"sgd", "rmsprop", "adam"};

const char *cn_optim_kind_name(cn_optim_kind kind)
{
    return (unsigned)kind < CN_OPTIM_KIND_COUNT ? optim_names[kind] : NULL;
}

void cn_optim_defaults(cn_optim_kind kind, cn_optim_config *c)
{
    memset(c, 0, sizeof *c);
    c->lr = kind == CN_OPTIM_RMSPROP ? 1e-2 : 1e-3;
    c->dampening = -1; /* "same as momentum" */
    c->alpha = 0.99;
    c->eps = 1e-8;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
}

static bool finite_nonneg(double v) { return isfinite(v) && v >= 0; }

cn_status cn_optim_new(cn_optim_kind kind, const cn_optim_config *config, cn_optim **out)
{
    if ((unsigned)kind >= CN_OPTIM_KIND_COUNT || !config || !out)
        return cn_set_error(CN_EINVAL, "optimizer: bad argument");
    cn_optim_config c = *config;
    if (c.dampening < 0)
        c.dampening = c.momentum;
    const char *name = optim_names[kind];
    if (!finite_nonneg(c.lr) || !finite_nonneg(c.lr_decay) || !finite_nonneg(c.weight_decay))
        return cn_set_error(CN_EINVAL, "%s: learningRate, learningRateDecay and weightDecay must "
                            "be finite and >= 0", name);
    if (!(c.momentum >= 0 && c.momentum < 1) || !(c.dampening >= 0 && c.dampening <= 1))
        return cn_set_error(CN_EINVAL, "%s: momentum must be in [0, 1) and dampening in [0, 1]", name);
    if (c.nesterov && !(c.momentum > 0 && c.dampening == 0))
        return cn_set_error(CN_EINVAL, "%s: Nesterov momentum requires momentum > 0 and zero "
                            "dampening (given momentum %g, dampening %g)", name, c.momentum,
                            c.dampening);
    if (!(c.alpha >= 0 && c.alpha < 1) || !(c.beta1 >= 0 && c.beta1 < 1) ||
        !(c.beta2 >= 0 && c.beta2 < 1) || !(c.eps > 0 && isfinite(c.eps)))
        return cn_set_error(CN_EINVAL, "%s: alpha, beta1 and beta2 must be in [0, 1) and epsilon > 0",
                            name);
    cn_optim *o = calloc(1, sizeof *o);
    if (!o)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", name);
    o->kind = kind;
    o->config = c;
    *out = o;
    return CN_OK;
}

static void free_state(cn_optim *o)
{
    for (size_t i = 0; i < o->nparams; i++) {
        if (o->buf1)
            free(o->buf1[i]);
        if (o->buf2)
            free(o->buf2[i]);
    }
    free(o->buf1);
    free(o->buf2);
    free(o->numel);
    o->buf1 = o->buf2 = NULL;
    o->numel = NULL;
    o->nparams = 0;
}

void cn_optim_free(cn_optim *opt)
{
    if (!opt)
        return;
    free_state(opt);
    free(opt);
}

void cn_optim_set_lr(cn_optim *opt, double lr) { opt->config.lr = lr; }
double cn_optim_get_lr(const cn_optim *opt) { return opt->config.lr; }
const cn_optim_config *cn_optim_get_config(const cn_optim *opt) { return &opt->config; }
cn_optim_kind cn_optim_kind_of(const cn_optim *opt) { return opt->kind; }

static cn_status alloc_state(cn_optim *o, cn_tensor **params, size_t n)
{
    o->numel = calloc(n ? n : 1, sizeof *o->numel);
    o->buf1 = calloc(n ? n : 1, sizeof *o->buf1);
    o->buf2 = calloc(n ? n : 1, sizeof *o->buf2);
    o->nparams = n;
    if (!o->numel || !o->buf1 || !o->buf2)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        o->numel[i] = cn_tensor_numel(params[i]);
        size_t bytes = (size_t)o->numel[i] * sizeof(float) + 1;
        o->buf1[i] = calloc(1, bytes);
        if (!o->buf1[i] || (o->kind == CN_OPTIM_ADAM && !(o->buf2[i] = calloc(1, bytes))))
            goto nomem;
    }
    return CN_OK;
nomem:
    free_state(o);
    return cn_set_error(CN_ENOMEM, "%s: cannot allocate optimizer state", optim_names[o->kind]);
}

/* One SGD update of n values (Torch optim.sgd). first: the momentum buffer is still empty. */
static void sgd_update(const cn_optim_config *c, double clr, bool first, float *restrict x,
                       const float *restrict g, float *restrict buf, int64_t n)
{
    float wd = (float)c->weight_decay, mom = (float)c->momentum, damp = 1.0f - (float)c->dampening;
    float lr = (float)clr;
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * x[i];
        if (mom != 0) {
            buf[i] = first ? d : mom * buf[i] + damp * d;
            d = c->nesterov ? d + mom * buf[i] : buf[i];
        }
        x[i] -= lr * d;
    }
}

static void rmsprop_update(const cn_optim_config *c, double clr, float *restrict x,
                           const float *restrict g, float *restrict m, int64_t n)
{
    float wd = (float)c->weight_decay, a = (float)c->alpha, eps = (float)c->eps, lr = (float)clr;
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * x[i];
        m[i] = a * m[i] + (1.0f - a) * d * d;
        x[i] -= lr * d / (sqrtf(m[i]) + eps);
    }
}

static void adam_update(const cn_optim_config *c, double clr, int64_t t, float *restrict x,
                        const float *restrict g, float *restrict m, float *restrict v, int64_t n)
{
    float wd = (float)c->weight_decay, b1 = (float)c->beta1, b2 = (float)c->beta2;
    float eps = (float)c->eps;
    double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    float step = (float)(clr * sqrt(bc2) / bc1);
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * x[i];
        m[i] = b1 * m[i] + (1.0f - b1) * d;
        v[i] = b2 * v[i] + (1.0f - b2) * d * d;
        x[i] -= step * m[i] / (sqrtf(v[i]) + eps);
    }
}

cn_status cn_optim_step(cn_optim *o, cn_layer *net)
{
    if (!o || !net)
        return cn_set_error(CN_EINVAL, "optimizer step: NULL argument");
    size_t n = cn_layer_params(net, NULL, NULL, 0);
    cn_tensor *stack[128], **p = n <= 64 ? stack : malloc(2 * n * sizeof *p);
    if (!p)
        return cn_set_error(CN_ENOMEM, "optimizer step: out of memory");
    cn_tensor **g = p + n;
    cn_layer_params(net, p, g, n);
    cn_status st = CN_OK;
    bool first = o->steps == 0 || o->nparams == 0;
    if (o->nparams == 0 && n > 0)
        st = alloc_state(o, p, n);
    else if (o->nparams != n)
        st = cn_set_error(CN_ESHAPE, "%s: the network has %zu parameter tensors, the optimizer "
                          "state %zu", optim_names[o->kind], n, o->nparams);
    for (size_t i = 0; !st && i < n; i++)
        if (cn_tensor_numel(p[i]) != o->numel[i])
            st = cn_set_error(CN_ESHAPE, "%s: parameter %zu has %lld values, the optimizer state "
                              "%lld", optim_names[o->kind], i + 1,
                              (long long)cn_tensor_numel(p[i]), (long long)o->numel[i]);
    if (!st) {
        o->steps++;
        double clr = o->config.lr / (1.0 + (double)(o->steps - 1) * o->config.lr_decay);
        for (size_t i = 0; i < n; i++) {
            float *x = cn_tensor_data(p[i]);
            const float *d = cn_tensor_cdata(g[i]);
            switch (o->kind) {
            case CN_OPTIM_SGD: sgd_update(&o->config, clr, first, x, d, o->buf1[i], o->numel[i]); break;
            case CN_OPTIM_RMSPROP: rmsprop_update(&o->config, clr, x, d, o->buf1[i], o->numel[i]); break;
            case CN_OPTIM_ADAM:
                adam_update(&o->config, clr, o->steps, x, d, o->buf1[i], o->buf2[i], o->numel[i]);
                break;
            default: break;
            }
        }
    }
    if (p != stack)
        free(p);
    return st;
}

double cn_schedule_lr(const cn_schedule *s, double lr0, int epoch)
{
    if (!s || epoch < 0)
        return lr0;
    switch (s->kind) {
    case CN_SCHEDULE_STEP: return lr0 * pow(s->gamma, (double)(epoch / (s->step_size > 0 ? s->step_size : 1)));
    case CN_SCHEDULE_EXP: return lr0 * pow(s->gamma, (double)epoch);
    default: return lr0;
    }
}
