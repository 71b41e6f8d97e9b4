/*
 * net_clone.c — a private copy of a network, for one thread's predictor.
 *
 * A cn_layer keeps its forward buffers inside itself, so two threads may never run the same
 * network. The plugin loads a model file once and gives each thread that reads the VRT its own
 * copy of the network, built through the public API: the same layers (kind, sizes, parameter),
 * the same parameter values and running statistics, the same training flag (evaluation, for a
 * loaded model: dropout is the identity, batch normalisation uses its running statistics). A
 * layer it cannot copy (convolutions, pooling: patch models, refused anyway) is reported, and the
 * model cache then shares the template's predictor between threads in turn. Weights of a
 * per-pixel model are small (a 204-256-128-16 MLP is 0.2 MB), so a copy per thread costs far
 * less than the source buffers GDAL allocates.
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

/* Batch normalisation: its sizes, then (with the parameters) the running statistics. */
static cn_status clone_batchnorm(cn_layer *src, cn_layer **out)
{
    int64_t features;
    float eps, momentum;
    if (!cn_batchnorm_get(src, &features, &eps, &momentum))
        return cn_set_error(CN_EINVAL, "network copy: not a batch normalisation layer");
    cn_status st = cn_batchnorm_new(features, eps, momentum, out);
    if (!st)
        st = cn_tensor_copy(cn_batchnorm_running_mean(*out), cn_batchnorm_running_mean(src));
    if (!st)
        st = cn_tensor_copy(cn_batchnorm_running_var(*out), cn_batchnorm_running_var(src));
    return st;
}

static cn_status clone_layer(cn_layer *src, cn_layer **out);

/* A residual block: copies of its inner layer and of its projection, if any. */
static cn_status clone_residual(cn_layer *src, cn_layer **out)
{
    cn_layer *inner = NULL, *projection = NULL;
    cn_layer *src_projection = cn_residual_projection(src);
    cn_status st = clone_layer(cn_residual_inner(src), &inner);
    if (!st && src_projection)
        st = clone_layer(src_projection, &projection);
    if (!st)
        st = cn_residual_new(inner, projection, out);
    cn_layer_release(inner); /* the block holds its own references */
    cn_layer_release(projection);
    return st;
}

static cn_status clone_layer(cn_layer *src, cn_layer **out)
{
    cn_layer_kind kind = cn_layer_kind_of(src);
    cn_status st;
    *out = NULL;
    if (cn_layer_kind_is_activation(kind))
        return cn_activation_new(kind, cn_layer_param(src), out);
    switch (kind) {
    case CN_LAYER_LINEAR:
        st = cn_linear_new(cn_linear_in(src), cn_linear_out(src), out);
        break;
    case CN_LAYER_DROPOUT:
        st = cn_dropout_new(cn_layer_param(src), 0, out);
        break;
    case CN_LAYER_FLATTEN:
        st = cn_flatten_new(out);
        break;
    case CN_LAYER_BATCHNORM:
        st = clone_batchnorm(src, out);
        break;
    case CN_LAYER_RESIDUAL:
        return clone_residual(src, out); /* the copied children carry the parameters */
    case CN_LAYER_SEQUENTIAL:
        st = cn_sequential_new(out);
        for (size_t i = 0, n = cn_sequential_count(src); !st && i < n; i++) {
            cn_layer *child;
            st = clone_layer(cn_sequential_child(src, i), &child);
            if (!st)
                st = cn_sequential_add(*out, child);
            cn_layer_release(child); /* the container holds its own reference */
        }
        return st;
    default: { /* convolutions, pooling, views: layers of patch models, which are refused */
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
    if (!st) /* new layers start in training mode; a loaded model runs in evaluation mode */
        cn_layer_set_training(*out, cn_layer_is_training(net));
    if (st) {
        cn_layer_release(*out);
        *out = NULL;
    }
    return st;
}
