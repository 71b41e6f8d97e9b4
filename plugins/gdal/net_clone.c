/*
 * net_clone.c — a private copy of a network, for one thread's predictor.
 *
 * A cn_layer keeps its forward buffers inside itself, so two threads may never run the same
 * network. The plugin loads a model file once and gives each thread that reads the VRT its own
 * copy of the network, built through the public API: the same layers (kind, sizes, parameter)
 * and the same parameter values. Weights of a per-pixel model are small (a 204-256-128-16 MLP is
 * 0.2 MB), so a copy per thread costs far less than the source buffers GDAL allocates.
 */
#include "plugin.h"

#include <stdlib.h>

/* Copies the parameter values of src into dst (same architecture, built by clone_layer). */
static cn_status copy_params(cn_layer *src, cn_layer *dst)
{
    size_t n = cn_layer_params(src, NULL, NULL, 0);
    if (n != cn_layer_params(dst, NULL, NULL, 0))
        return cn_set_error(CN_EINVAL, "network copy: parameter counts differ");
    if (n == 0)
        return CN_OK;
    cn_tensor **p = malloc(2 * n * sizeof *p);
    if (!p)
        return cn_set_error(CN_ENOMEM, "network copy: out of memory");
    cn_layer_params(src, p, NULL, n);
    cn_layer_params(dst, p + n, NULL, n);
    cn_status st = CN_OK;
    for (size_t i = 0; !st && i < n; i++)
        st = cn_tensor_copy(p[n + i], p[i]);
    free(p);
    return st;
}

static cn_status clone_layer(cn_layer *src, cn_layer **out)
{
    cn_layer_kind kind = cn_layer_kind_of(src);
    cn_status st;
    *out = NULL;
    switch (kind) {
    case CN_LAYER_LINEAR:
        st = cn_linear_new(cn_linear_in(src), cn_linear_out(src), out);
        break;
    case CN_LAYER_SIGMOID:
    case CN_LAYER_TANH:
    case CN_LAYER_RELU:
    case CN_LAYER_LEAKY_RELU:
    case CN_LAYER_ELU:
    case CN_LAYER_STEP:
        st = cn_activation_new(kind, cn_layer_param(src), out);
        break;
    case CN_LAYER_SEQUENTIAL:
        st = cn_sequential_new(out);
        for (size_t i = 0, n = cn_sequential_count(src); !st && i < n; i++) {
            cn_layer *child;
            st = clone_layer(cn_sequential_child(src, i), &child);
            if (!st)
                st = cn_sequential_add(*out, child);
            cn_layer_release(child); /* the container holds its own reference */
        }
        return st; /* the children carry the parameters */
    default: {
        const char *name = cn_layer_kind_name(kind);
        return cn_set_error(CN_EINVAL, "network copy: cannot copy a %s layer",
                            name ? name : "unknown");
    }
    }
    if (!st)
        st = copy_params(src, *out);
    return st;
}

cn_status cnp_net_clone(cn_layer *net, cn_layer **out)
{
    cn_status st = clone_layer(net, out);
    if (st) {
        cn_layer_release(*out);
        *out = NULL;
    }
    return st;
}
