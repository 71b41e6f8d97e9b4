/*
 * model.c — the model object: a network, user metadata strings and extra named tensors.
 *
 * The tables are small (a few dozen entries) and keep insertion order, so plain parallel arrays
 * with a linear search serve; the loader appends without searching, because the JSON parser has
 * already refused duplicate keys. The CRC-32 shared by saving and loading lives here too.
 */
#include "model_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cn_status cn_model_fail(const char *path, cn_status status, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cn_set_error(status, "%s: %s", path, msg);
}

/* jansson refuses to build a string from invalid UTF-8; saving relies on that never happening. */
static bool utf8_ok(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

bool cn_model_meta_key_ok(const char *key)
{
    return key && key[0] && strncmp(key, "cropnet.", 8) != 0 && strcmp(key, "__metadata__") != 0
           && utf8_ok(key);
}

bool cn_model_tensor_name_ok(const char *name)
{
    size_t n = strlen(CN_MODEL_NET_PREFIX);
    return name && name[0] && strcmp(name, "__metadata__") != 0
           && !(strncmp(name, CN_MODEL_NET_PREFIX, n) == 0 && (name[n] == '\0' || name[n] == '.'))
           && utf8_ok(name);
}

cn_status cn_model_new(cn_layer *net, cn_model **out)
{
    if (!net || !out)
        return cn_set_error(CN_EINVAL, "model: NULL argument");
    cn_model *m = calloc(1, sizeof *m);
    if (!m)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    m->net = cn_layer_retain(net);
    *out = m;
    return CN_OK;
}

void cn_model_free(cn_model *model)
{
    if (!model)
        return;
    cn_layer_release(model->net);
    for (size_t i = 0; i < model->meta_count; i++) {
        free(model->meta_keys[i]);
        free(model->meta_values[i]);
    }
    for (size_t i = 0; i < model->tensor_count; i++) {
        free(model->tensor_names[i]);
        cn_tensor_release(model->tensors[i]);
    }
    free(model->meta_keys);
    free(model->meta_values);
    free(model->tensor_names);
    free(model->tensors);
    free(model);
}

cn_layer *cn_model_net(cn_model *model) { return model ? model->net : NULL; }

/* The capacity after one more entry than cap allows, or 0 when the arrays cannot grow. */
static size_t next_cap(size_t count, size_t cap)
{
    if (count < cap)
        return cap;
    size_t n = cap ? cap * 2 : 8;
    return n > SIZE_MAX / sizeof(void *) / 2 ? 0 : n;
}

static cn_status grow_meta(cn_model *m)
{
    size_t n = next_cap(m->meta_count, m->meta_cap);
    if (n == m->meta_cap)
        return CN_OK;
    char **k = n ? realloc(m->meta_keys, n * sizeof *k) : NULL;
    if (k)
        m->meta_keys = k;
    char **v = k ? realloc(m->meta_values, n * sizeof *v) : NULL;
    if (!v)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    m->meta_values = v;
    m->meta_cap = n;
    return CN_OK;
}

static cn_status grow_tensors(cn_model *m)
{
    size_t n = next_cap(m->tensor_count, m->tensor_cap);
    if (n == m->tensor_cap)
        return CN_OK;
    char **k = n ? realloc(m->tensor_names, n * sizeof *k) : NULL;
    if (k)
        m->tensor_names = k;
    cn_tensor **v = k ? realloc(m->tensors, n * sizeof *v) : NULL;
    if (!v)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    m->tensors = v;
    m->tensor_cap = n;
    return CN_OK;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

cn_status cn_model_meta_append(cn_model *model, const char *key, const char *value)
{
    cn_status st = grow_meta(model);
    if (st)
        return st;
    char *k = dup_str(key), *v = dup_str(value);
    if (!k || !v) {
        free(k);
        free(v);
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    }
    model->meta_keys[model->meta_count] = k;
    model->meta_values[model->meta_count] = v;
    model->meta_count++;
    return CN_OK;
}

cn_status cn_model_set_meta(cn_model *model, const char *key, const char *value)
{
    if (!model || !key || !value)
        return cn_set_error(CN_EINVAL, "model: NULL argument");
    if (!cn_model_meta_key_ok(key))
        return cn_set_error(CN_EINVAL,
                            "model: metadata key \"%s\" is empty, reserved (\"cropnet.*\", "
                            "\"__metadata__\") or not UTF-8", key);
    if (!utf8_ok(value))
        return cn_set_error(CN_EINVAL, "model: value of metadata key \"%s\" is not UTF-8", key);
    for (size_t i = 0; i < model->meta_count; i++) {
        if (strcmp(model->meta_keys[i], key) == 0) {
            char *v = dup_str(value);
            if (!v)
                return cn_set_error(CN_ENOMEM, "model: out of memory");
            free(model->meta_values[i]);
            model->meta_values[i] = v;
            return CN_OK;
        }
    }
    return cn_model_meta_append(model, key, value);
}

const char *cn_model_get_meta(const cn_model *model, const char *key)
{
    for (size_t i = 0; model && key && i < model->meta_count; i++)
        if (strcmp(model->meta_keys[i], key) == 0)
            return model->meta_values[i];
    return NULL;
}

size_t cn_model_meta_count(const cn_model *model) { return model ? model->meta_count : 0; }

const char *cn_model_meta_key(const cn_model *model, size_t i)
{
    return model && i < model->meta_count ? model->meta_keys[i] : NULL;
}

cn_status cn_model_tensor_append(cn_model *model, const char *name, cn_tensor *tensor)
{
    cn_status st = grow_tensors(model);
    if (st)
        return st;
    char *n = dup_str(name);
    if (!n)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    model->tensor_names[model->tensor_count] = n;
    model->tensors[model->tensor_count] = cn_tensor_retain(tensor);
    model->tensor_count++;
    return CN_OK;
}

cn_status cn_model_set_tensor(cn_model *model, const char *name, cn_tensor *tensor)
{
    if (!model || !name || !tensor)
        return cn_set_error(CN_EINVAL, "model: NULL argument");
    if (!cn_model_tensor_name_ok(name))
        return cn_set_error(CN_EINVAL,
                            "model: tensor name \"%s\" is empty, reserved (\"layers\", "
                            "\"layers.*\", \"__metadata__\") or not UTF-8", name);
    for (size_t i = 0; i < model->tensor_count; i++) {
        if (strcmp(model->tensor_names[i], name) == 0) {
            cn_tensor_retain(tensor);
            cn_tensor_release(model->tensors[i]);
            model->tensors[i] = tensor;
            return CN_OK;
        }
    }
    return cn_model_tensor_append(model, name, tensor);
}

cn_tensor *cn_model_get_tensor(cn_model *model, const char *name)
{
    for (size_t i = 0; model && name && i < model->tensor_count; i++)
        if (strcmp(model->tensor_names[i], name) == 0)
            return model->tensors[i];
    return NULL;
}

uint32_t cn_crc32(uint32_t crc, const void *data, size_t n)
{
    /* The table is rebuilt per call (2 k steps, nothing next to the file I/O) so that no shared
     * state needs thread-safe initialisation. */
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
