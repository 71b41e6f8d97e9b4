/*
 * model_arch_conv.c — the convolutional-network kinds in "cropnet.arch": convolution, pooling,
 * global average pooling, flatten, view, dropout, batch normalisation and residual blocks, in
 * both directions (docs/model-format.md lists the fields).
 *
 * As for the dense kinds, nothing in the text is trusted: every field is checked, unknown fields
 * are refused, and a layer's tensors are found in the file (with exactly the implied shapes)
 * before the layer is allocated, so a hostile description cannot make the loader allocate more
 * than the file holds. Optional fields (stride, padding, dilation, bias, floor) take the
 * constructors' defaults when absent; the writer always writes them all.
 */
#include "layer_impl.h"
#include "model_arch_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- network → JSON */

/* A JSON array of n integers (NULL on failure, which json_object_set_new reports). */
static json_t *int_array(const int64_t *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

cn_status cn_arch_conv_json(cn_layer *l, int depth, json_t *o)
{
    int bad = 0;
    switch (cn_layer_kind_of(l)) {
    case CN_LAYER_CONV2D:
    case CN_LAYER_CONV3D: {
        cn_conv_spec s;
        cn_conv_get_spec(l, &s);
        bad = bad || json_object_set_new(o, "in", json_integer(s.in))
              || json_object_set_new(o, "out", json_integer(s.out))
              || json_object_set_new(o, "kernel", int_array(s.kernel, s.dims))
              || json_object_set_new(o, "stride", int_array(s.stride, s.dims))
              || json_object_set_new(o, "padding", int_array(s.padding, s.dims))
              || json_object_set_new(o, "dilation", int_array(s.dilation, s.dims))
              || json_object_set_new(o, "bias", json_boolean(s.bias))
              || json_object_set_new(o, "floor", json_boolean(s.floor));
        break;
    }
    case CN_LAYER_MAX_POOL2D:
    case CN_LAYER_AVG_POOL2D: {
        cn_pool_spec s;
        cn_pool_get_spec(l, &s);
        bad = bad || json_object_set_new(o, "kernel", int_array(s.kernel, 2))
              || json_object_set_new(o, "stride", int_array(s.stride, 2))
              || json_object_set_new(o, "padding", int_array(s.padding, 2))
              || json_object_set_new(o, "floor", json_boolean(s.floor));
        break;
    }
    case CN_LAYER_VIEW: {
        int64_t dims[CN_MAX_DIMS];
        int nd = cn_view_get_shape(l, dims);
        bad = bad || json_object_set_new(o, "shape", int_array(dims, nd));
        break;
    }
    case CN_LAYER_DROPOUT:
        bad = bad || json_object_set_new(o, "p", json_real(cn_arch_shortest(cn_layer_param(l))));
        break;
    case CN_LAYER_BATCHNORM: {
        int64_t features = 0;
        float eps = 0, momentum = 0;
        cn_batchnorm_get(l, &features, &eps, &momentum);
        bad = bad || json_object_set_new(o, "features", json_integer(features))
              || json_object_set_new(o, "eps", json_real(cn_arch_shortest(eps)))
              || json_object_set_new(o, "momentum", json_real(cn_arch_shortest(momentum)));
        break;
    }
    case CN_LAYER_RESIDUAL: {
        cn_layer *branch[2] = {cn_residual_inner(l), cn_residual_projection(l)};
        static const char *const keys[2] = {"inner", "projection"};
        for (int i = 0; i < 2 && !bad && branch[i]; i++) {
            json_t *child = NULL;
            cn_status st = cn_arch_json(branch[i], depth + 1, &child);
            if (st)
                return st;
            bad = json_object_set_new(o, keys[i], child);
        }
        break;
    }
    default:
        break;
    }
    return bad ? cn_set_error(CN_ENOMEM, "model: out of memory") : CN_OK;
}

/* ---------------------------------------------------------------- JSON → network */

/* An array of n integers in [lo, hi] at field; when absent, def (n values) if given, else an
 * error. */
static cn_status get_ints(build_ctx *c, json_t *o, const char *field, int n, int64_t lo,
                          int64_t hi, const int64_t *def, int64_t *out)
{
    json_t *a = json_object_get(o, field);
    if (!a && def) {
        memcpy(out, def, (size_t)n * sizeof *out);
        return CN_OK;
    }
    bool ok = json_is_array(a) && json_array_size(a) == (size_t)n;
    for (int i = 0; ok && i < n; i++) {
        json_t *v = json_array_get(a, (size_t)i);
        ok = json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
        if (ok)
            out[i] = (int64_t)json_integer_value(v);
    }
    if (!ok)
        return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: \"%s\" must be an array of "
                             "%d integers from %lld to %lld", c->name, field, n, (long long)lo,
                             (long long)hi);
    return CN_OK;
}

static cn_status get_bool(build_ctx *c, json_t *o, const char *field, bool def, bool *out)
{
    json_t *v = json_object_get(o, field);
    if (!v) {
        *out = def;
        return CN_OK;
    }
    if (!json_is_boolean(v))
        return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: \"%s\" must be true or "
                             "false", c->name, field);
    *out = json_is_true(v);
    return CN_OK;
}

/* A constructor's refusal, as a format error of the file. */
static cn_status refused(build_ctx *c, cn_status st)
{
    return cn_model_fail(c->path, st == CN_ENOMEM ? st : CN_EFORMAT, "architecture: %s: %s",
                         c->name, cn_last_error());
}

/* Copies the file's values into a tensor of the new layer. */
static void put(cn_tensor *t, const float *v)
{
    memcpy(cn_tensor_data(t), v, (size_t)cn_tensor_numel(t) * sizeof(float));
}

static cn_status build_conv(build_ctx *c, json_t *o, int kind, cn_layer **out)
{
    static const char *const fields[] = {"type", "in", "out", "kernel", "stride", "padding",
                                         "dilation", "bias", "floor", NULL};
    static const int64_t ones[3] = {1, 1, 1}, zeros[3] = {0, 0, 0};
    int dims = kind == CN_LAYER_CONV2D ? 2 : 3;
    cn_conv_spec s;
    cn_conv_spec_default(&s, dims, 1, 1, 1);
    cn_status st;
    if ((st = cn_arch_only_fields(c, o, fields)) || (st = cn_arch_get_size(c, o, "in", &s.in)) ||
        (st = cn_arch_get_size(c, o, "out", &s.out)) ||
        (st = get_ints(c, o, "kernel", dims, 1, CN_WINDOW_MAX, NULL, s.kernel)) ||
        (st = get_ints(c, o, "stride", dims, 1, CN_WINDOW_MAX, ones, s.stride)) ||
        (st = get_ints(c, o, "padding", dims, 0, CN_WINDOW_MAX, zeros, s.padding)) ||
        (st = get_ints(c, o, "dilation", dims, 1, CN_WINDOW_MAX, ones, s.dilation)) ||
        (st = get_bool(c, o, "bias", true, &s.bias)) ||
        (st = get_bool(c, o, "floor", false, &s.floor)))
        return st;
    int64_t wdims[5] = {s.out, s.in};
    for (int i = 0; i < dims; i++)
        wdims[2 + i] = s.kernel[i];
    const float *w = NULL, *b = NULL;
    if ((st = cn_arch_fetch(c, ".weight", 2 + dims, wdims, &w)) ||
        (s.bias && (st = cn_arch_fetch(c, ".bias", 1, &s.out, &b))))
        return st;
    if ((st = cn_conv_new(&s, out)))
        return refused(c, st);
    cn_tensor *p[2] = {NULL, NULL};
    cn_layer_params(*out, p, NULL, 2);
    put(p[0], w);
    if (b)
        put(p[1], b);
    return CN_OK;
}

static cn_status build_pool(build_ctx *c, json_t *o, int kind, cn_layer **out)
{
    static const char *const fields[] = {"type", "kernel", "stride", "padding", "floor", NULL};
    static const int64_t zeros[2] = {0, 0};
    cn_pool_spec s = {.floor = false};
    cn_status st;
    if ((st = cn_arch_only_fields(c, o, fields)) ||
        (st = get_ints(c, o, "kernel", 2, 1, CN_WINDOW_MAX, NULL, s.kernel)) ||
        (st = get_ints(c, o, "stride", 2, 1, CN_WINDOW_MAX, s.kernel, s.stride)) ||
        (st = get_ints(c, o, "padding", 2, 0, CN_WINDOW_MAX, zeros, s.padding)) ||
        (st = get_bool(c, o, "floor", false, &s.floor)))
        return st;
    if ((st = cn_pool_new((cn_layer_kind)kind, &s, out)))
        return refused(c, st);
    return CN_OK;
}

static cn_status build_view(build_ctx *c, json_t *o, cn_layer **out)
{
    static const char *const fields[] = {"type", "shape", NULL};
    cn_status st = cn_arch_only_fields(c, o, fields);
    if (st)
        return st;
    json_t *a = json_object_get(o, "shape");
    size_t n = json_array_size(a);
    if (!json_is_array(a) || n < 1 || n > CN_MAX_DIMS - 1)
        return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: \"shape\" must be an array "
                             "of 1 to %d sizes", c->name, CN_MAX_DIMS - 1);
    int64_t dims[CN_MAX_DIMS];
    if ((st = get_ints(c, o, "shape", (int)n, -1, CN_MODEL_MAX_FEATURES, NULL, dims)))
        return st;
    if ((st = cn_view_new((int)n, dims, out)))
        return refused(c, st);
    return CN_OK;
}

static cn_status build_dropout(build_ctx *c, json_t *o, cn_layer **out)
{
    static const char *const fields[] = {"type", "p", NULL};
    float p = 0;
    cn_status st;
    if ((st = cn_arch_only_fields(c, o, fields)) || (st = cn_arch_get_param(c, o, "p", true, &p)))
        return st;
    /* The mask generator is not part of the model: a loaded net starts from seed 0 (and
     * cn_layer_init reseeds it before any new training). */
    if ((st = cn_dropout_new(p, 0, out)))
        return refused(c, st);
    return CN_OK;
}

static cn_status build_batchnorm(build_ctx *c, json_t *o, cn_layer **out)
{
    static const char *const fields[] = {"type", "features", "eps", "momentum", NULL};
    int64_t f = 0;
    float eps = 0, momentum = 0;
    cn_status st;
    if ((st = cn_arch_only_fields(c, o, fields)) ||
        (st = cn_arch_get_size(c, o, "features", &f)) ||
        (st = cn_arch_get_param(c, o, "eps", true, &eps)) ||
        (st = cn_arch_get_param(c, o, "momentum", true, &momentum)))
        return st;
    const float *v[4] = {NULL, NULL, NULL, NULL};
    static const char *const names[4] = {".weight", ".bias", ".running_mean", ".running_var"};
    for (int i = 0; i < 4; i++)
        if ((st = cn_arch_fetch(c, names[i], 1, &f, &v[i])))
            return st;
    if ((st = cn_batchnorm_new(f, eps, momentum, out)))
        return refused(c, st);
    cn_tensor *p[2] = {NULL, NULL};
    cn_layer_params(*out, p, NULL, 2);
    put(p[0], v[0]);
    put(p[1], v[1]);
    put(cn_batchnorm_running_mean(*out), v[2]);
    put(cn_batchnorm_running_var(*out), v[3]);
    return CN_OK;
}

static cn_status build_residual(build_ctx *c, json_t *o, int depth, cn_layer **out)
{
    static const char *const fields[] = {"type", "inner", "projection", NULL};
    cn_status st = cn_arch_only_fields(c, o, fields);
    if (st)
        return st;
    if (!json_object_get(o, "inner"))
        return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: \"inner\" is missing",
                             c->name);
    cn_layer *branch[2] = {NULL, NULL};
    static const char *const keys[2] = {"inner", "projection"};
    size_t len = strlen(c->name);
    for (int i = 0; i < 2 && !st; i++) {
        json_t *b = json_object_get(o, keys[i]);
        if (!b)
            continue;
        snprintf(c->name + len, CN_ARCH_NAME_MAX - len, ".%s", keys[i]);
        st = cn_arch_build_layer(c, b, depth + 1, &branch[i]);
        c->name[len] = '\0';
    }
    if (!st && (st = cn_residual_new(branch[0], branch[1], out)))
        st = refused(c, st);
    cn_layer_release(branch[0]);
    cn_layer_release(branch[1]);
    return st;
}

cn_status cn_arch_build_conv(build_ctx *c, json_t *o, int kind, int depth, cn_layer **out)
{
    static const char *const plain[] = {"type", NULL};
    cn_status st;
    switch (kind) {
    case CN_LAYER_CONV2D:
    case CN_LAYER_CONV3D:
        return build_conv(c, o, kind, out);
    case CN_LAYER_MAX_POOL2D:
    case CN_LAYER_AVG_POOL2D:
        return build_pool(c, o, kind, out);
    case CN_LAYER_VIEW:
        return build_view(c, o, out);
    case CN_LAYER_DROPOUT:
        return build_dropout(c, o, out);
    case CN_LAYER_BATCHNORM:
        return build_batchnorm(c, o, out);
    case CN_LAYER_RESIDUAL:
        return build_residual(c, o, depth, out);
    case CN_LAYER_GLOBAL_AVG_POOL:
    case CN_LAYER_FLATTEN:
        if ((st = cn_arch_only_fields(c, o, plain)))
            return st;
        st = kind == CN_LAYER_FLATTEN ? cn_flatten_new(out) : cn_global_avg_pool_new(out);
        return st ? refused(c, st) : CN_OK;
    default:
        return cn_model_fail(c->path, CN_EFORMAT, "architecture: %s: unknown layer type %d",
                             c->name, kind);
    }
}
