/*
 * init.c — weight initialisation: Gaussian, Xavier/Glorot (uniform and normal) and He.
 *
 * Fan-in and fan-out are those of the weight matrix (in and out features of a linear layer). The
 * draws walk the parameters in their fixed order, so a seed gives the same network everywhere.
 */
#include "layer_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const init_names[CN_INIT_KIND_COUNT] = {
    "gaussian", "xavier_uniform", "xavier_normal", "he_normal", "he_uniform",
};

const char *cn_init_kind_name(cn_init_kind kind)
{
    return (unsigned)kind < CN_INIT_KIND_COUNT ? init_names[kind] : NULL;
}

int cn_init_kind_from_name(const char *name)
{
    for (int i = 0; name && i < CN_INIT_KIND_COUNT; i++)
        if (strcmp(name, init_names[i]) == 0)
            return i;
    return -1;
}

void cn_init_fill(cn_tensor *w, int64_t fan_in, int64_t fan_out, cn_init_kind kind, float std,
                  cn_rng *rng)
{
    float *p = cn_tensor_data(w);
    int64_t n = cn_tensor_numel(w);
    bool uniform = kind == CN_INIT_XAVIER_UNIFORM || kind == CN_INIT_HE_UNIFORM;
    double var = kind == CN_INIT_GAUSSIAN ? (double)std * std
                 : kind == CN_INIT_XAVIER_UNIFORM || kind == CN_INIT_XAVIER_NORMAL
                     ? 2.0 / (double)(fan_in + fan_out)
                     : 2.0 / (double)fan_in;
    /* U(-a, a) has variance a²/3 */
    double scale = uniform ? sqrt(3.0 * var) : sqrt(var);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(uniform ? scale * (2.0 * cn_rng_uniform(rng) - 1.0)
                               : scale * cn_rng_normal(rng));
}

cn_status cn_layer_init(cn_layer *layer, cn_init_kind kind, float std, cn_rng *rng)
{
    if (!layer || !rng || (unsigned)kind >= CN_INIT_KIND_COUNT)
        return cn_set_error(CN_EINVAL, "init: bad argument");
    if (kind == CN_INIT_GAUSSIAN && !(std >= 0 && isfinite(std)))
        return cn_set_error(CN_EINVAL, "init: standard deviation %g out of range", (double)std);
    if (layer->ops->init)
        layer->ops->init(layer, kind, std, rng);
    /* children in their fixed order, so a seed gives the same weights everywhere */
    size_t n = cn_layer_children(layer, NULL, 0);
    cn_layer *stack[16], **c = n <= 16 ? stack : malloc(n * sizeof *c);
    if (!c)
        return cn_set_error(CN_ENOMEM, "init: out of memory");
    cn_layer_children(layer, c, n);
    cn_status st = CN_OK;
    for (size_t i = 0; i < n && !st; i++)
        st = cn_layer_init(c[i], kind, std, rng);
    if (c != stack)
        free(c);
    return st;
}
