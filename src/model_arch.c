/*
 * model_arch.c — between a network and its description in the model file: the "cropnet.arch"
 * JSON text and the tensor names of its parameters.
 *
 * Names follow PyTorch state dicts: the network is "layers", a sequential's child i appends ".i",
 * a linear layer's tensors append ".weight" (out × in) and ".bias" (out). So a top-level
 * sequential gives "layers.0.weight", a nested one "layers.2.1.weight", and a network that is a
 * single linear layer "layers.weight". Both directions derive names from the same helper, and
 * both bound the nesting by CN_MODEL_MAX_DEPTH so that neither a cyclic network nor a hostile file
 * can exhaust the stack.
 */
#include "model_impl.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Long enough for "layers" + CN_MODEL_MAX_DEPTH × ".<20 digits>" + ".weight". */
#define NAME_MAX_LEN 1024

/* Appends ".<i>" to the name of length len; returns the new length. */
static size_t name_push(char *name, size_t len, size_t i)
{
    int n = snprintf(name + len, NAME_MAX_LEN - len, ".%zu", i);
    return len + (size_t)n;
}

/* ---------------------------------------------------------------- network → names, arch */

static cn_status walk(cn_layer *l, char *name, size_t len, int depth, cn_model_param_fn fn,
                      void *ctx)
{
    if (depth > CN_MODEL_MAX_DEPTH)
        return cn_set_error(CN_EINVAL, "model: network nested deeper than %d sequentials (or "
                            "contains itself)", CN_MODEL_MAX_DEPTH);
    switch (cn_layer_kind_of(l)) {
    case CN_LAYER_LINEAR: {
        cn_tensor *p[2] = {NULL, NULL};
        cn_layer_params(l, p, NULL, 2);
        snprintf(name + len, NAME_MAX_LEN - len, ".weight");
        cn_status st = fn(ctx, name, p[0]);
        snprintf(name + len, NAME_MAX_LEN - len, ".bias");
        if (!st)
            st = fn(ctx, name, p[1]);
        name[len] = '\0';
        return st;
    }
    case CN_LAYER_SEQUENTIAL:
        for (size_t i = 0; i < cn_sequential_count(l); i++) {
            size_t n = name_push(name, len, i);
            cn_status st = walk(cn_sequential_child(l, i), name, n, depth + 1, fn, ctx);
            name[len] = '\0';
            if (st)
                return st;
        }
        return CN_OK;
    default:
        return CN_OK;
    }
}

cn_status cn_model_walk_params(cn_layer *net, cn_model_param_fn fn, void *ctx)
{
    char name[NAME_MAX_LEN] = CN_MODEL_NET_PREFIX;
    return walk(net, name, strlen(name), 0, fn, ctx);
}

/* The shortest decimal that reads back as f, so 0.01f is written "0.01", not "0.00999999978". */
static double shortest(float f)
{
    char buf[32];
    for (int p = 1; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return f;
}

static cn_status arch_json(cn_layer *l, int depth, json_t **out)
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
        bad = bad || json_object_set_new(o, "slope", json_real(shortest(cn_layer_param(l))));
        break;
    case CN_LAYER_ELU:
        bad = bad || json_object_set_new(o, "alpha", json_real(shortest(cn_layer_param(l))));
        break;
    case CN_LAYER_SEQUENTIAL: {
        json_t *arr = json_array();
        bad = bad || json_object_set_new(o, "layers", arr);
        for (size_t i = 0; !bad && i < cn_sequential_count(l); i++) {
            json_t *child = NULL;
            cn_status st = arch_json(cn_sequential_child(l, i), depth + 1, &child);
            if (st) {
                json_decref(o);
                return st;
            }
            bad = json_array_append_new(arr, child);
        }
        break;
    }
    default:
        break;
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
    cn_status st = arch_json(net, 0, &root);
    if (st)
        return st;
    /* 9 significant digits read back any float exactly; shortest() keeps them short. */
    *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(root);
    return *text ? CN_OK : cn_set_error(CN_ENOMEM, "model: out of memory");
}

/* ---------------------------------------------------------------- arch → network */

typedef struct build_ctx {
    const char *path;          /* for messages */
    cn_model_lookup_fn lookup; /* the file's tensors */
    void *lookup_ctx;
    char name[NAME_MAX_LEN];   /* name of the layer being built ("layers.2.1") */
} build_ctx;

/* Refuses fields other than the allowed ones (NULL-terminated), so that a description this
 * version does not understand is never half-read. */
static cn_status only_fields(build_ctx *c, json_t *o, const char *const *allowed)
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

static cn_status get_size(build_ctx *c, json_t *o, const char *field, int64_t *out)
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

static cn_status get_param(build_ctx *c, json_t *o, const char *field, bool nonneg, float *out)
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
static cn_status fetch(build_ctx *c, const char *suffix, int ndim, const int64_t *dims,
                       const float **values)
{
    char full[NAME_MAX_LEN + 16];
    snprintf(full, sizeof full, "%s%s", c->name, suffix);
    return c->lookup(c->lookup_ctx, full, ndim, dims, values);
}

static cn_status build_linear(build_ctx *c, json_t *o, cn_layer **out)
{
    static const char *const fields[] = {"type", "in", "out", NULL};
    int64_t in = 0, outf = 0;
    cn_status st = only_fields(c, o, fields);
    if (!st)
        st = get_size(c, o, "in", &in);
    if (!st)
        st = get_size(c, o, "out", &outf);
    if (st)
        return st;
    /* The tensors are found in the file before anything is allocated, so the sizes a hostile
     * description asks for are backed by bytes the file really holds. */
    int64_t wdims[2] = {outf, in};
    const float *w = NULL, *b = NULL;
    if ((st = fetch(c, ".weight", 2, wdims, &w)) || (st = fetch(c, ".bias", 1, &outf, &b)))
        return st;
    if ((st = cn_linear_new(in, outf, out)))
        return cn_model_fail(c->path, st, "%s", cn_last_error());
    cn_tensor *p[2] = {NULL, NULL};
    cn_layer_params(*out, p, NULL, 2);
    memcpy(cn_tensor_data(p[0]), w, (size_t)(in * outf) * sizeof(float));
    memcpy(cn_tensor_data(p[1]), b, (size_t)outf * sizeof(float));
    return CN_OK;
}

static cn_status build_layer(build_ctx *c, json_t *o, int depth, cn_layer **out);

static cn_status build_sequential(build_ctx *c, json_t *o, int depth, cn_layer **out)
{
    static const char *const fields[] = {"type", "layers", NULL};
    cn_status st = only_fields(c, o, fields);
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
        name_push(c->name, len, i);
        st = build_layer(c, json_array_get(arr, i), depth + 1, &child);
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

static cn_status build_layer(build_ctx *c, json_t *o, int depth, cn_layer **out)
{
    if (depth > CN_MODEL_MAX_DEPTH)
        return cn_model_fail(c->path, CN_EFORMAT,
                             "architecture: %s: sequentials nested deeper than %d", c->name,
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
        if ((st = only_fields(c, o, leaky)) || (st = get_param(c, o, "slope", false, &param)))
            return st;
        break;
    case CN_LAYER_ELU:
        if ((st = only_fields(c, o, elu)) || (st = get_param(c, o, "alpha", true, &param)))
            return st;
        break;
    case CN_LAYER_SIGMOID:
    case CN_LAYER_TANH:
    case CN_LAYER_RELU:
    case CN_LAYER_STEP:
        if ((st = only_fields(c, o, plain)))
            return st;
        break;
    default:
        return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: unknown layer type \"%s\"",
                             c->name, json_string_value(type));
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
    cn_status st = build_layer(&c, root, 0, net);
    json_decref(root);
    return st;
}
