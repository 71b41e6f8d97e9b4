/*
 * layer.c — what every layer kind shares: life cycle, names, dispatch of forward and backward,
 * parameter enumeration and zeroing of gradients.
 */
#include "layer_impl.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[CN_LAYER_KIND_COUNT] = {
    "linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "step", "sequential",
    "conv2d", "conv3d", "max_pool2d", "avg_pool2d", "global_avg_pool", "flatten", "view",
    "dropout", "batchnorm", "residual",
};

const char *cn_layer_kind_name(cn_layer_kind kind)
{
    return (unsigned)kind < CN_LAYER_KIND_COUNT ? kind_names[kind] : NULL;
}

int cn_layer_kind_from_name(const char *name)
{
    for (int i = 0; name && i < CN_LAYER_KIND_COUNT; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return i;
    return -1;
}

cn_status cn_layer_alloc(cn_layer_kind kind, const cn_layer_ops *ops, cn_layer **out)
{
    cn_layer *l = calloc(1, sizeof *l);
    if (!l)
        return cn_set_error(CN_ENOMEM, "layer: out of memory");
    atomic_init(&l->refs, 1);
    l->kind = kind;
    l->ops = ops;
    l->training = true; /* Torch's default */
    int64_t zero = 0;
    cn_status st = cn_tensor_new(1, &zero, &l->output);
    if (!st)
        st = cn_tensor_new(1, &zero, &l->grad_input);
    if (st) {
        cn_layer_release(l);
        return st;
    }
    *out = l;
    return CN_OK;
}

cn_layer *cn_layer_retain(cn_layer *layer)
{
    if (layer)
        atomic_fetch_add(&layer->refs, 1);
    return layer;
}

void cn_layer_release(cn_layer *layer)
{
    if (!layer || atomic_fetch_sub(&layer->refs, 1) != 1)
        return;
    if (layer->ops && layer->ops->destroy)
        layer->ops->destroy(layer);
    cn_tensor_release(layer->output);
    cn_tensor_release(layer->grad_input);
    free(layer);
}

cn_layer_kind cn_layer_kind_of(const cn_layer *layer) { return layer->kind; }
float cn_layer_param(const cn_layer *layer) { return layer->param; }
int64_t cn_linear_in(const cn_layer *layer) { return layer->kind == CN_LAYER_LINEAR ? layer->in : 0; }
int64_t cn_linear_out(const cn_layer *layer) { return layer->kind == CN_LAYER_LINEAR ? layer->out : 0; }

cn_status cn_layer_forward(cn_layer *layer, const cn_tensor *in, cn_tensor **out)
{
    if (!layer || !in || !out)
        return cn_set_error(CN_EINVAL, "forward: NULL argument");
    cn_status st = layer->ops->forward(layer, in);
    if (st)
        return st;
    *out = layer->ops->output(layer);
    return CN_OK;
}

cn_status cn_layer_backward(cn_layer *layer, const cn_tensor *in, const cn_tensor *grad_out,
                            cn_tensor **grad_in)
{
    if (!layer || !in || !grad_out)
        return cn_set_error(CN_EINVAL, "backward: NULL argument");
    cn_tensor *out = layer->ops->output(layer);
    if (!cn_tensor_same_shape(out, grad_out)) {
        char a[96], b[96];
        return cn_set_error(CN_ESHAPE, "%s backward: gradient size %s does not match output size %s",
                            cn_layer_kind_name(layer->kind), cn_tensor_shape_str(grad_out, a, sizeof a),
                            cn_tensor_shape_str(out, b, sizeof b));
    }
    cn_status st = layer->ops->backward(layer, in, grad_out, grad_in != NULL);
    if (st)
        return st;
    if (grad_in)
        *grad_in = layer->kind == CN_LAYER_SEQUENTIAL && layer->count
                       ? layer->children[0]->grad_input
                       : layer->grad_input;
    return CN_OK;
}

size_t cn_layer_children(cn_layer *layer, cn_layer **out, size_t cap)
{
    if (!layer || !layer->ops->children)
        return 0;
    return layer->ops->children(layer, out, out ? cap : 0);
}

/* Visits every child of layer with fn(child, arg); children are few, so a small stack array
 * covers them (a sequential past 64 children falls back to the heap). */
static bool each_child(cn_layer *layer, bool (*fn)(cn_layer *, void *), void *arg)
{
    size_t n = cn_layer_children(layer, NULL, 0);
    cn_layer *stack[64], **c = n <= 64 ? stack : malloc(n * sizeof *c);
    if (!c)
        return false;
    cn_layer_children(layer, c, n);
    bool stop = false;
    for (size_t i = 0; i < n && !stop; i++)
        stop = fn(c[i], arg);
    if (c != stack)
        free(c);
    return stop;
}

static bool set_training(cn_layer *l, void *arg)
{
    cn_layer_set_training(l, *(bool *)arg);
    return false;
}

void cn_layer_set_training(cn_layer *layer, bool training)
{
    if (!layer)
        return;
    layer->training = training;
    each_child(layer, set_training, &training);
}

bool cn_layer_is_training(const cn_layer *layer) { return layer && layer->training; }

static bool contains_fn(cn_layer *l, void *child) { return cn_layer_contains(l, child); }

bool cn_layer_contains(cn_layer *layer, cn_layer *child)
{
    return layer == child || each_child(layer, contains_fn, child);
}

void cn_layer_push_param(cn_tensor *p, cn_tensor *g, cn_tensor **params, cn_tensor **grads,
                         size_t cap, size_t *n)
{
    if (*n < cap) {
        if (params)
            params[*n] = p;
        if (grads)
            grads[*n] = g;
    }
    (*n)++;
}

size_t cn_layer_params(cn_layer *layer, cn_tensor **params, cn_tensor **grads, size_t cap)
{
    size_t n = 0;
    if (!params && !grads)
        cap = 0;
    if (layer->ops->params)
        layer->ops->params(layer, params, grads, cap, &n);
    return n;
}

int64_t cn_layer_param_numel(cn_layer *layer)
{
    size_t n = cn_layer_params(layer, NULL, NULL, 0);
    cn_tensor *stack[64], **p = n <= 64 ? stack : malloc(n * sizeof *p);
    if (!p)
        return -1;
    cn_layer_params(layer, p, NULL, n);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += cn_tensor_numel(p[i]);
    if (p != stack)
        free(p);
    return total;
}

void cn_layer_zero_grad(cn_layer *layer)
{
    size_t n = cn_layer_params(layer, NULL, NULL, 0);
    cn_tensor *stack[64], **g = n <= 64 ? stack : malloc(n * sizeof *g);
    if (!g)
        return; /* nothing allocated, nothing to zero that we could reach */
    cn_layer_params(layer, NULL, g, n);
    for (size_t i = 0; i < n; i++)
        cn_tensor_fill(g[i], 0.0f);
    if (g != stack)
        free(g);
}
