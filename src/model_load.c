/*
 * model_load.c — reading a model file, trusting nothing in it (see docs/model-format.md).
 *
 * The checks run in the order that gives the most useful message: the 8-byte header length
 * against the file's size, the JSON, the cropnet metadata (foreign file?), the format version
 * (newer file?), every tensor entry (dtype, dimensions, element-count overflow, offsets inside
 * the data section, contiguous and not overlapping), the data's CRC-32, then the architecture,
 * whose parameter tensors must all be present with exactly the implied shapes. Every allocation is
 * bounded by bytes the file really holds, and every message starts "path: ".
 */
#define _GNU_SOURCE /* memmem */
#include "model_impl.h"

#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The data section is decoded byte by byte, so only the float format itself must match. */
_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24 && FLT_MAX_EXP == 128,
               "cropnet model files hold IEEE 754 binary32 floats");

/* A header longer than this is taken as a sign of a foreign file, not as a huge model. */
#define HEADER_MAX ((uint64_t)100 << 20)

/* One tensor entry of the header. */
typedef struct in_tensor {
    const char *name;          /* borrowed from the header JSON */
    int ndim;                  /* 1..CN_MAX_DIMS */
    int64_t dims[CN_MAX_DIMS];
    uint64_t begin, end;       /* byte offsets in the data section, end - begin = numel · 4 */
    bool used;                 /* claimed by the architecture */
} in_tensor;

typedef struct load_ctx {
    const char *path;          /* for messages */
    FILE *fp;
    uint64_t header_len, data_len;
    json_t *root;              /* the header */
    json_t *meta;              /* its "__metadata__" (borrowed from root) */
    uint32_t crc;              /* "cropnet.crc32" */
    uint32_t header_crc;       /* CRC-32 of the header bytes with the checksum digits zeroed */
    in_tensor *tensors;        /* in data order */
    in_tensor **by_name;       /* the same, sorted by name */
    size_t count;
    float *data;               /* the decoded data section */
    cn_layer *net;
} load_ctx;

#define FAIL(c, st, ...) cn_model_fail((c)->path, (st), __VA_ARGS__)

static bool is_net_name(const char *name)
{
    size_t n = strlen(CN_MODEL_NET_PREFIX);
    return strncmp(name, CN_MODEL_NET_PREFIX, n) == 0 && (name[n] == '\0' || name[n] == '.');
}

static char *shape_str(int ndim, const int64_t *dims, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, i ? " x %lld" : "%lld", (long long)dims[i]);
    if (len < size)
        snprintf(buf + len, size - len, ")");
    return buf;
}

static cn_status read_exact(load_ctx *c, void *buf, size_t n)
{
    if (fread(buf, 1, n, c->fp) == n)
        return CN_OK;
    if (ferror(c->fp))
        return FAIL(c, CN_EIO, "read error: %s", strerror(errno));
    return FAIL(c, CN_EFORMAT, "truncated (the file ended while reading it)");
}

/* ---------------------------------------------------------------- header */

static cn_status read_header(load_ctx *c)
{
    struct stat st;
    if (fstat(fileno(c->fp), &st) != 0)
        return FAIL(c, CN_EIO, "%s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return FAIL(c, CN_EIO, "not a regular file");
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8)
        return FAIL(c, CN_EFORMAT, "not a cropnet model file (%llu bytes, too short for the "
                    "8-byte header length): truncated?", (unsigned long long)size);
    unsigned char len8[8];
    cn_status s = read_exact(c, len8, 8);
    if (s)
        return s;
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h |= (uint64_t)len8[i] << (8 * i);
    if (h > HEADER_MAX || h < 2)
        return FAIL(c, CN_EFORMAT, "not a cropnet model file (its first 8 bytes give a header "
                    "length of %llu bytes)", (unsigned long long)h);
    if (h > size - 8)
        return FAIL(c, CN_EFORMAT, "truncated (the header needs %llu bytes, only %llu follow)",
                    (unsigned long long)h, (unsigned long long)(size - 8));
    c->header_len = h;
    c->data_len = size - 8 - h;
    char *buf = malloc((size_t)h);
    if (!buf)
        return FAIL(c, CN_ENOMEM, "cannot allocate %llu bytes for the header",
                    (unsigned long long)h);
    if ((s = read_exact(c, buf, (size_t)h))) {
        free(buf);
        return s;
    }
    if (buf[0] != '{') {
        free(buf);
        return FAIL(c, CN_EFORMAT, "not a cropnet model file (the header is not a JSON object)");
    }
    /* The checksum covers the header as written, its own 8 digits read as "00000000" (a key
     * cannot occur inside a JSON string unescaped, so the first match is the field). */
    char *digits = memmem(buf, (size_t)h, CN_MODEL_CRC_KEY, strlen(CN_MODEL_CRC_KEY));
    if (digits && (size_t)(digits - buf) + strlen(CN_MODEL_CRC_KEY) + 8 <= (size_t)h) {
        digits += strlen(CN_MODEL_CRC_KEY);
        char keep[8];
        memcpy(keep, digits, 8);
        memset(digits, '0', 8);
        c->header_crc = cn_crc32(0, buf, (size_t)h);
        memcpy(digits, keep, 8);
    }
    json_error_t err;
    c->root = json_loadb(buf, (size_t)h, JSON_REJECT_DUPLICATES, &err);
    free(buf);
    if (!c->root)
        return FAIL(c, CN_EFORMAT, "the header is not valid JSON (%s, at byte %d)", err.text,
                    err.position);
    if (!json_is_object(c->root))
        return FAIL(c, CN_EFORMAT, "not a cropnet model file (the header is not a JSON object)");
    return CN_OK;
}

/* Parses a string of 1 to 9 decimal digits, or returns -1. */
static long parse_version(const char *s)
{
    long v = 0;
    size_t n = strlen(s);
    if (n < 1 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Parses exactly 8 hex digits. */
static bool parse_crc(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return s[8] == '\0';
}

static cn_status check_meta(load_ctx *c)
{
    json_t *meta = json_object_get(c->root, "__metadata__");
    json_t *fmt = json_object_get(meta, "cropnet.format");
    if (!json_is_object(meta) || !json_is_string(fmt)
        || strcmp(json_string_value(fmt), CN_MODEL_FORMAT_NAME) != 0)
        return FAIL(c, CN_EFORMAT, "not a cropnet model (safetensors without cropnet metadata)");
    c->meta = meta;
    const char *ver = json_string_value(json_object_get(meta, "cropnet.version"));
    long version = ver ? parse_version(ver) : -1;
    if (version < 1)
        return FAIL(c, CN_EFORMAT, "cropnet.version is missing or not a format version");
    if (version > CN_MODEL_FORMAT_VERSION)
        return FAIL(c, CN_EVERSION,
                    "written by a newer cropnet (format version %ld, this build reads up to %d)",
                    version, CN_MODEL_FORMAT_VERSION);
    /* Checked after the version: a newer format may store other things here. */
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return FAIL(c, CN_EFORMAT, "metadata \"%s\" is not a string", key);
        if (strncmp(key, "cropnet.", 8) != 0 && !cn_model_meta_key_ok(key))
            return FAIL(c, CN_EFORMAT, "metadata key \"%s\" is not allowed", key);
    }
    if (!json_is_string(json_object_get(meta, "cropnet.arch")))
        return FAIL(c, CN_EFORMAT, "cropnet.arch is missing");
    const char *crc = json_string_value(json_object_get(meta, "cropnet.crc32"));
    if (!crc || !parse_crc(crc, &c->crc))
        return FAIL(c, CN_EFORMAT, "cropnet.crc32 is missing or not 8 hex digits");
    return CN_OK;
}

/* ---------------------------------------------------------------- tensor entries */

static cn_status parse_entry(load_ctx *c, const char *name, json_t *e, in_tensor *t)
{
    t->name = name;
    json_t *dtype = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape");
    json_t *offs = json_object_get(e, "data_offsets");
    if (!json_is_object(e) || json_object_size(e) != 3 || !json_is_string(dtype)
        || !json_is_array(shape) || !json_is_array(offs))
        return FAIL(c, CN_EFORMAT, "tensor \"%s\": the entry must hold exactly dtype, shape and "
                    "data_offsets", name);
    if (strcmp(json_string_value(dtype), "F32") != 0)
        return FAIL(c, CN_EFORMAT, "tensor \"%s\" has dtype %s; cropnet reads F32 only", name,
                    json_string_value(dtype));
    size_t nd = json_array_size(shape);
    if (nd < 1 || nd > CN_MAX_DIMS)
        return FAIL(c, CN_EFORMAT, "tensor \"%s\" has %zu dimensions; cropnet reads 1 to %d",
                    name, nd, CN_MAX_DIMS);
    t->ndim = (int)nd;
    int64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return FAIL(c, CN_EFORMAT, "tensor \"%s\": dimension %zu is not a non-negative "
                        "integer", name, i + 1);
        int64_t v = (int64_t)json_integer_value(d);
        if (v != 0 && numel > INT64_MAX / 4 / v)
            return FAIL(c, CN_EFORMAT, "tensor \"%s\": the element count overflows", name);
        numel *= v;
        t->dims[i] = v;
    }
    json_t *b = json_array_get(offs, 0), *en = json_array_get(offs, 1);
    if (json_array_size(offs) != 2 || !json_is_integer(b) || !json_is_integer(en)
        || json_integer_value(b) < 0 || json_integer_value(en) < json_integer_value(b))
        return FAIL(c, CN_EFORMAT, "tensor \"%s\": data_offsets must be two integers "
                    "0 <= begin <= end", name);
    t->begin = (uint64_t)json_integer_value(b);
    t->end = (uint64_t)json_integer_value(en);
    if (t->end > c->data_len)
        return FAIL(c, CN_EFORMAT, "tensor \"%s\" ends at byte %llu but the data section holds "
                    "%llu: truncated?", name, (unsigned long long)t->end,
                    (unsigned long long)c->data_len);
    if (t->end - t->begin != (uint64_t)numel * 4)
        return FAIL(c, CN_EFORMAT, "tensor \"%s\": data_offsets give %llu bytes, its shape %llu",
                    name, (unsigned long long)(t->end - t->begin),
                    (unsigned long long)numel * 4);
    return CN_OK;
}

static int by_begin(const void *a, const void *b)
{
    const in_tensor *x = a, *y = b;
    return x->begin != y->begin ? (x->begin < y->begin ? -1 : 1)
           : x->end != y->end  ? (x->end < y->end ? -1 : 1)
                               : 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(in_tensor *const *)a)->name, (*(in_tensor *const *)b)->name);
}

static cn_status parse_tensors(load_ctx *c)
{
    size_t n = json_object_size(c->root) - 1; /* all but __metadata__ */
    c->tensors = calloc(n ? n : 1, sizeof *c->tensors);
    c->by_name = calloc(n ? n : 1, sizeof *c->by_name);
    if (!c->tensors || !c->by_name)
        return FAIL(c, CN_ENOMEM, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(c->root, key, v) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        cn_status st = parse_entry(c, key, v, &c->tensors[c->count]);
        if (st)
            return st;
        c->count++;
    }
    /* Like safetensors itself: the tensors tile the data section exactly, so none overlap and
     * every byte the checksum covers belongs to one. The sort is stable enough: equal keys are
     * empty tensors at the same offset. */
    qsort(c->tensors, c->count, sizeof *c->tensors, by_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < c->count; i++) {
        if (c->tensors[i].begin != at)
            return FAIL(c, CN_EFORMAT, "tensor \"%s\" starts at byte %llu of the data section, "
                        "expected %llu (tensors must be contiguous and not overlap)",
                        c->tensors[i].name, (unsigned long long)c->tensors[i].begin,
                        (unsigned long long)at);
        at = c->tensors[i].end;
    }
    if (at != c->data_len)
        return FAIL(c, CN_EFORMAT, "%llu bytes after the last tensor",
                    (unsigned long long)(c->data_len - at));
    for (size_t i = 0; i < c->count; i++)
        c->by_name[i] = &c->tensors[i];
    qsort(c->by_name, c->count, sizeof *c->by_name, by_name);
    return CN_OK;
}

/* ---------------------------------------------------------------- data */

static cn_status read_data(load_ctx *c)
{
    if (c->data_len > SIZE_MAX - 1)
        return FAIL(c, CN_ENOMEM, "the data section is too large for this machine");
    /* A multiple of 4: the tensors tile it and each holds numel · 4 bytes. */
    size_t n = (size_t)c->data_len;
    c->data = malloc(n ? n : 1);
    if (!c->data)
        return FAIL(c, CN_ENOMEM, "cannot allocate %zu bytes for the tensors", n);
    cn_status st = read_exact(c, c->data, n);
    if (st)
        return st;
    if (cn_crc32(c->header_crc, c->data, n) != c->crc)
        return FAIL(c, CN_EFORMAT, "checksum mismatch (file corrupt)");
    unsigned char *p = (unsigned char *)c->data;
    for (size_t i = 0; i < n / 4; i++) {
        const unsigned char *q = p + 4 * i;
        uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16
                     | (uint32_t)q[3] << 24;
        memcpy(&c->data[i], &u, 4);
    }
    return CN_OK;
}

/* ---------------------------------------------------------------- network and model */

static cn_status lookup(void *ctx, const char *name, int ndim, const int64_t *dims,
                        const float **values)
{
    load_ctx *c = ctx;
    in_tensor key = {.name = name}, *kp = &key;
    in_tensor **hit = bsearch(&kp, c->by_name, c->count, sizeof *c->by_name, by_name);
    if (!hit)
        return FAIL(c, CN_EFORMAT, "tensor \"%s\" is missing (the architecture needs it)", name);
    in_tensor *t = *hit;
    bool same = t->ndim == ndim && !t->used;
    for (int i = 0; same && i < ndim; i++)
        same = t->dims[i] == dims[i];
    if (!same) {
        char a[128], b[128];
        return FAIL(c, CN_EFORMAT, "tensor \"%s\" has shape %s, the architecture needs %s", name,
                    shape_str(t->ndim, t->dims, a, sizeof a), shape_str(ndim, dims, b, sizeof b));
    }
    t->used = true;
    *values = c->data + t->begin / 4;
    return CN_OK;
}

static cn_status build_model(load_ctx *c, cn_model **out)
{
    json_t *arch = json_object_get(c->meta, "cropnet.arch");
    cn_status st = cn_model_arch_build(c->path, json_string_value(arch), json_string_length(arch),
                                       lookup, c, &c->net);
    if (st)
        return st;
    for (size_t i = 0; i < c->count; i++) {
        const in_tensor *t = &c->tensors[i];
        if (!t->used && is_net_name(t->name))
            return FAIL(c, CN_EFORMAT, "unexpected tensor \"%s\" (not a parameter of the "
                        "architecture)", t->name);
        if (!t->used && !cn_model_tensor_name_ok(t->name))
            return FAIL(c, CN_EFORMAT, "tensor name \"%s\" is not allowed", t->name);
    }
    cn_model *m = NULL;
    if ((st = cn_model_new(c->net, &m)))
        return FAIL(c, st, "%s", cn_last_error());
    const char *key;
    json_t *v;
    json_object_foreach(c->meta, key, v) {
        if (!st && strncmp(key, "cropnet.", 8) != 0)
            st = cn_model_meta_append(m, key, json_string_value(v));
    }
    for (size_t i = 0; !st && i < c->count; i++) {
        const in_tensor *t = &c->tensors[i];
        cn_tensor *x = NULL;
        if (t->used || (st = cn_tensor_new(t->ndim, t->dims, &x)))
            continue;
        if (t->end > t->begin)
            memcpy(cn_tensor_data(x), c->data + t->begin / 4, (size_t)(t->end - t->begin));
        st = cn_model_tensor_append(m, t->name, x);
        cn_tensor_release(x);
    }
    if (st) {
        cn_model_free(m);
        return FAIL(c, st, "%s", cn_last_error());
    }
    *out = m;
    return CN_OK;
}

cn_status cn_model_load(const char *path, cn_model **out)
{
    if (!path || !out)
        return cn_set_error(CN_EINVAL, "model: NULL argument");
    *out = NULL;
    load_ctx c = {.path = path};
    if (!(c.fp = fopen(path, "rb")))
        return cn_model_fail(path, CN_EIO, "%s", strerror(errno));
    cn_status st = read_header(&c);
    if (!st)
        st = check_meta(&c);
    if (!st)
        st = parse_tensors(&c);
    if (!st)
        st = read_data(&c);
    if (!st)
        st = build_model(&c, out);
    fclose(c.fp);
    cn_layer_release(c.net);
    free(c.data);
    free(c.by_name);
    free(c.tensors);
    json_decref(c.root);
    return st;
}
