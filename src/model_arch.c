/*
 * model_arch.c — between a network and its description in the model file: the "cropnet.arch"
 * JSON text and the tensor names of its parameters.
 *
 * Names follow PyTorch state dicts: the network is "layers", a sequential's child i appends ".i",
 * a linear layer's tensors append ".weight" (out × in) and ".bias" (out). So a top-level
 * sequential gives "layers.0.weight", a nested one "layers.2.1.weight", and a network that is a
 * single linear layer "layers.weight". A residual block's branches append ".inner" and
 * ".projection"; batch normalisation adds its buffers ".running_mean" and ".running_var". The
 * convolutional-network kinds are described and built in model_arch_conv.c. Both directions
 * derive names from the same helper, and both bound the nesting by CN_MODEL_MAX_DEPTH so that
 * neither a cyclic network nor a hostile file can exhaust the stack.
 */
#include "model_arch_impl.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends ".<i>" to the name of length len; returns the new length. */
size_t cn_arch_name_push(char *name, size_t len, size_t i)
{
    int n = snprintf(name + len, CN_ARCH_NAME_MAX - len, ".%zu", i);
    return len + (size_t)n;
}

/* ---------------------------------------------------------------- network → names, arch */

/* Calls fn on name + suffix for tensor t. */
static cn_status emit(char *name, size_t len, const char *suffix, cn_tensor *t,
                      cn_model_param_fn fn, void *ctx)
{
    snprintf(name + len, CN_ARCH_NAME_MAX - len, "%s", suffix);
    cn_status st = fn(ctx, name, t);
    name[len] = '\0';
    return st;
}

static cn_status walk(cn_layer *l, char *name, size_t len, int depth, cn_model_param_fn fn,
                      void *ctx)
{
    if (depth > CN_MODEL_MAX_DEPTH)
        return cn_set_error(CN_EINVAL, "model: network nested deeper than %d containers (or "
                            "contains itself)", CN_MODEL_MAX_DEPTH);
    cn_status st = CN_OK;
    switch (cn_layer_kind_of(l)) {
    case CN_LAYER_LINEAR:
    case CN_LAYER_CONV2D:
    case CN_LAYER_CONV3D:
    case CN_LAYER_BATCHNORM: {
        /* weight, then bias when the layer has one */
        cn_tensor *p[2] = {NULL, NULL};
        size_t n = cn_layer_params(l, p, NULL, 2);
        st = emit(name, len, ".weight", p[0], fn, ctx);
        if (!st && n > 1)
            st = emit(name, len, ".bias", p[1], fn, ctx);
        if (!st && cn_layer_kind_of(l) == CN_LAYER_BATCHNORM) {
            st = emit(name, len, ".running_mean", cn_batchnorm_running_mean(l), fn, ctx);
            if (!st)
                st = emit(name, len, ".running_var", cn_batchnorm_running_var(l), fn, ctx);
        }
        return st;
    }
    case CN_LAYER_SEQUENTIAL:
        for (size_t i = 0; i < cn_sequential_count(l) && !st; i++) {
            size_t n = cn_arch_name_push(name, len, i);
            st = walk(cn_sequential_child(l, i), name, n, depth + 1, fn, ctx);
            name[len] = '\0';
        }
        return st;
    case CN_LAYER_RESIDUAL:
        snprintf(name + len, CN_ARCH_NAME_MAX - len, ".inner");
        st = walk(cn_residual_inner(l), name, strlen(name), depth + 1, fn, ctx);
        if (!st && cn_residual_projection(l)) {
            snprintf(name + len, CN_ARCH_NAME_MAX - len, ".projection");
            st = walk(cn_residual_projection(l), name, strlen(name), depth + 1, fn, ctx);
        }
        name[len] = '\0';
        return st;
    default:
        return CN_OK;
    }
}

cn_status cn_model_walk_params(cn_layer *net, cn_model_param_fn fn, void *ctx)
{
    char name[CN_ARCH_NAME_MAX] = CN_MODEL_NET_PREFIX;
    return walk(net, name, strlen(name), 0, fn, ctx);
}

/* The shortest decimal that reads back as f, so 0.01f is written "0.01", not "0.00999999978". */
double cn_arch_shortest(float f)
{
    char buf[32];
    for (int p = 1; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return f;
}

cn_status cn_arch_json(cn_layer *l, int depth, json_t **out)
{
    if (depth > CN_MODEL_MAX_DEPTH)
        return cn_set_error(CN_EINVAL, "model: network nested deeper than %d sequentials (or "
                            "contains itself)", CN_MODEL_MAX_DEPTH);
    cn_layer_kind kind = cn_layer_kind_of(l);
    json_t *o = json_object();
    int bad = !o || json_object_set_new(o, "type", json_string(cn_layer_kind_name(kind)));
    switch (kind) {
    case CN_LAYER_LINEAR:
        bad = bad || json_object_set_new(o, "in", json_integer(cn_linear_in(l)))
              || json_object_set_new(o, "out", json_integer(cn_linear_out(l)));
        break;
    case CN_LAYER_LEAKY_RELU:
        bad = bad ||
              json_object_set_new(o, "slope", json_real(cn_arch_shortest(cn_layer_param(l))));
        break;
    case CN_LAYER_ELU:
        bad = bad ||
              json_object_set_new(o, "alpha", json_real(cn_arch_shortest(cn_layer_param(l))));
        break;
    case CN_LAYER_SEQUENTIAL: {
        json_t *arr = json_array();
        bad = bad || json_object_set_new(o, "layers", arr);
        for (size_t i = 0; !bad && i < cn_sequential_count(l); i++) {
            json_t *child = NULL;
            cn_status st = cn_arch_json(cn_sequential_child(l, i), depth + 1, &child);
            if (st) {
                json_decref(o);
                return st;
            }
            bad = json_array_append_new(arr, child);
        }
        break;
    }
    default: { /* the convolutional-network kinds: model_arch_conv.c */
        cn_status st = bad ? CN_OK : cn_arch_conv_json(l, depth, o);
        if (st) {
            json_decref(o);
            return st;
        }
        break;
    }
    }
    if (bad) {
        json_decref(o);
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    }
    *out = o;
    return CN_OK;
}

cn_status cn_model_arch_dump(cn_layer *net, char **text)
{
    json_t *root = NULL;
    cn_status st = cn_arch_json(net, 0, &root);
    if (st)
        return st;
    /* 9 significant digits read back any float exactly; cn_arch_shortest() keeps them short. */
    *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(root);
    return *text ? CN_OK : cn_set_error(CN_ENOMEM, "model: out of memory");
}

/* ---------------------------------------------------------------- arch → network */


/* Refuses fields other than the allowed ones (NULL-terminated), so that a description this
 * version does not understand is never half-read. */
cn_status cn_arch_only_fields(build_ctx *c, json_t *o, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(key, *a) == 0;
        if (!ok)
            return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: unknown field \"%s\"",
                                 c->name, key);
    }
    return CN_OK;
}

cn_status cn_arch_get_size(build_ctx *c, json_t *o, const char *field, int64_t *out)
{
    json_t *v = json_object_get(o, field);
    if (!json_is_integer(v) || json_integer_value(v) < 1
        || json_integer_value(v) > CN_MODEL_MAX_FEATURES)
        return cn_model_fail(c->path, CN_EFORMAT,
                             "architecture: %s: \"%s\" must be an integer from 1 to %d", c->name,
                             field, CN_MODEL_MAX_FEATURES);
    *out = (int64_t)json_integer_value(v);
    return CN_OK;
}

cn_status cn_arch_get_param(build_ctx *c, json_t *o, const char *field, bool nonneg, float *out)
{
    json_t *v = json_object_get(o, field);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(d) || fabs(d) > FLT_MAX || (nonneg && d < 0))
        return cn_model_fail(c->path, CN_EFORMAT,
                             "architecture: %s: \"%s\" must be a finite%s number", c->name, field,
                             nonneg ? " non-negative" : "");
    *out = (float)d;
    return CN_OK;
}

/* Looks up the parameter tensor c->name + suffix in the file. */
cn_status cn_arch_fetch(build_ctx *c, const char *suffix, int ndim, const int64_t *dims,
                       const float **values)
{
    char full[CN_ARCH_NAME_MAX + 16];
    snprintf(full, sizeof full, "%s%s", c->name, suffix);
    return c->lookup(c->lookup_ctx, full, ndim, dims, values);
}

static cn_status build_linear(build_ctx *c, json_t *o, cn_layer **out)
{
    static const char *const fields[] = {"type", "in", "out", NULL};
    int64_t in = 0, outf = 0;
    cn_status st = cn_arch_only_fields(c, o, fields);
    if (!st)
        st = cn_arch_get_size(c, o, "in", &in);
    if (!st)
        st = cn_arch_get_size(c, o, "out", &outf);
    if (st)
        return st;
    /* The tensors are found in the file before anything is allocated, so the sizes a hostile
     * description asks for are backed by bytes the file really holds. */
    int64_t wdims[2] = {outf, in};
    const float *w = NULL, *b = NULL;
    if ((st = cn_arch_fetch(c, ".weight", 2, wdims, &w)) ||
        (st = cn_arch_fetch(c, ".bias", 1, &outf, &b)))
        return st;
    if ((st = cn_linear_new(in, outf, out)))
        return cn_model_fail(c->path, st, "%s", cn_last_error());
    cn_tensor *p[2] = {NULL, NULL};
    cn_layer_params(*out, p, NULL, 2);
    memcpy(cn_tensor_data(p[0]), w, (size_t)(in * outf) * sizeof(float));
    memcpy(cn_tensor_data(p[1]), b, (size_t)outf * sizeof(float));
    return CN_OK;
}


static cn_status build_sequential(build_ctx *c, json_t *o, int depth, cn_layer **out)
{
    static const char *const fields[] = {"type", "layers", NULL};
    cn_status st = cn_arch_only_fields(c, o, fields);
    if (st)
        return st;
    json_t *arr = json_object_get(o, "layers");
    if (!json_is_array(arr))
        return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: \"layers\" must be an array",
                             c->name);
    cn_layer *seq = NULL;
    if ((st = cn_sequential_new(&seq)))
        return cn_model_fail(c->path, st, "%s", cn_last_error());
    size_t len = strlen(c->name);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        cn_layer *child = NULL;
        cn_arch_name_push(c->name, len, i);
        st = cn_arch_build_layer(c, json_array_get(arr, i), depth + 1, &child);
        c->name[len] = '\0';
        if (!st) {
            st = cn_sequential_add(seq, child);
            if (st)
                st = cn_model_fail(c->path, st, "%s", cn_last_error());
            cn_layer_release(child);
        }
        if (st) {
            cn_layer_release(seq);
            return st;
        }
    }
    *out = seq;
    return CN_OK;
}

cn_status cn_arch_build_layer(build_ctx *c, json_t *o, int depth, cn_layer **out)
{
    if (depth > CN_MODEL_MAX_DEPTH)
        return cn_model_fail(c->path, CN_EFORMAT,
                             "architecture: %s: containers nested deeper than %d", c->name,
                             CN_MODEL_MAX_DEPTH);
    if (!json_is_object(o))
        return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: not a JSON object", c->name);
    json_t *type = json_object_get(o, "type");
    if (!json_is_string(type))
        return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: no \"type\" string",
                             c->name);
    int kind = cn_layer_kind_from_name(json_string_value(type));
    static const char *const plain[] = {"type", NULL};
    static const char *const leaky[] = {"type", "slope", NULL};
    static const char *const elu[] = {"type", "alpha", NULL};
    float param = 0;
    cn_status st;
    switch (kind) {
    case CN_LAYER_LINEAR:
        return build_linear(c, o, out);
    case CN_LAYER_SEQUENTIAL:
        return build_sequential(c, o, depth, out);
    case CN_LAYER_LEAKY_RELU:
        if ((st = cn_arch_only_fields(c, o, leaky)) ||
            (st = cn_arch_get_param(c, o, "slope", false, &param)))
            return st;
        break;
    case CN_LAYER_ELU:
        if ((st = cn_arch_only_fields(c, o, elu)) ||
            (st = cn_arch_get_param(c, o, "alpha", true, &param)))
            return st;
        break;
    case CN_LAYER_SIGMOID:
    case CN_LAYER_TANH:
    case CN_LAYER_RELU:
    case CN_LAYER_STEP:
        if ((st = cn_arch_only_fields(c, o, plain)))
            return st;
        break;
    case -1:
        return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: unknown layer type \"%s\"",
                             c->name, json_string_value(type));
    default:
        return cn_arch_build_conv(c, o, kind, depth, out);
    }
    if ((st = cn_activation_new((cn_layer_kind)kind, param, out)))
        return cn_model_fail(c->path, st, "%s", cn_last_error());
    return CN_OK;
}

cn_status cn_model_arch_build(const char *path, const char *text, size_t len,
                              cn_model_lookup_fn lookup, void *ctx, cn_layer **net)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return cn_model_fail(path, CN_EFORMAT, "architecture (cropnet.arch) is not valid JSON: %s",
                             err.text);
    build_ctx c = {.path = path, .lookup = lookup, .lookup_ctx = ctx, .name = CN_MODEL_NET_PREFIX};
    cn_status st = cn_arch_build_layer(&c, root, 0, net);
    json_decref(root);
    if (!st) /* a loaded network predicts: dropout off, running statistics (cropnet_layers.h) */
        cn_layer_set_training(*net, false);
    return st;
}
