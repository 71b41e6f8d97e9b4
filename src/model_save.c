/*
 * model_save.c — writing a model as a safetensors file (see docs/model-format.md).
 *
 * The tensor bytes are encoded first, because their CRC-32 goes into the header that precedes
 * them. The file is written to a temporary name beside the target and renamed over it only once
 * fclose has succeeded, so a failure never leaves a partial file at path nor harms an existing
 * one; the temporary file is unlinked on every failure path.
 */
#include "model_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One tensor of the file, in file order. */
typedef struct out_tensor {
    const char *name;       /* borrowed from the model, or an owned copy for network names */
    char *owned;            /* the copy to free, or NULL */
    const cn_tensor *t;
} out_tensor;

typedef struct out_list {
    out_tensor *v;
    size_t count, cap;
} out_list;

static cn_status list_push(out_list *l, const char *name, bool copy, const cn_tensor *t)
{
    if (l->count == l->cap) {
        size_t n = l->cap ? l->cap * 2 : 16;
        out_tensor *v = n < SIZE_MAX / sizeof *v ? realloc(l->v, n * sizeof *v) : NULL;
        if (!v)
            return cn_set_error(CN_ENOMEM, "model: out of memory");
        l->v = v;
        l->cap = n;
    }
    out_tensor *o = &l->v[l->count];
    o->owned = NULL;
    if (copy) {
        size_t len = strlen(name) + 1;
        if (!(o->owned = malloc(len)))
            return cn_set_error(CN_ENOMEM, "model: out of memory");
        memcpy(o->owned, name, len);
        name = o->owned;
    }
    o->name = name;
    o->t = t;
    l->count++;
    return CN_OK;
}

static cn_status push_param(void *ctx, const char *name, cn_tensor *t)
{
    return list_push(ctx, name, true, t);
}

static void list_free(out_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->v[i].owned);
    free(l->v);
}

static void put_u64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The data section: every tensor's floats as little-endian bytes, in list order. */
static cn_status encode_data(const out_list *l, unsigned char **data, size_t *size)
{
    size_t total = 0;
    for (size_t i = 0; i < l->count; i++) {
        size_t n = (size_t)cn_tensor_numel(l->v[i].t);
        if (n > (SIZE_MAX - total) / 4)
            return cn_set_error(CN_EOVERFLOW, "model: tensors too large to save");
        total += n * 4;
    }
    unsigned char *p = malloc(total ? total : 1);
    if (!p)
        return cn_set_error(CN_ENOMEM, "model: cannot allocate %zu bytes", total);
    unsigned char *q = p;
    for (size_t i = 0; i < l->count; i++) {
        const float *f = cn_tensor_cdata(l->v[i].t);
        int64_t n = cn_tensor_numel(l->v[i].t);
        for (int64_t k = 0; k < n; k++) {
            uint32_t u;
            memcpy(&u, &f[k], 4);
            for (int b = 0; b < 4; b++)
                *q++ = (unsigned char)(u >> (8 * b));
        }
    }
    *data = p;
    *size = total;
    return CN_OK;
}

/* "__metadata__" first (for people reading the header), then the tensors in data order. */
static cn_status build_header(const cn_model *m, const out_list *l, uint32_t crc, char **text)
{
    char *arch = NULL;
    cn_status st = cn_model_arch_dump(m->net, &arch);
    if (st)
        return st;
    char crc_hex[9], version[16];
    snprintf(crc_hex, sizeof crc_hex, "%08lx", (unsigned long)crc);
    snprintf(version, sizeof version, "%d", CN_MODEL_FORMAT_VERSION);

    json_t *root = json_object(), *meta = json_object();
    int bad = !root || !meta || json_object_set(root, "__metadata__", meta)
              || json_object_set_new(meta, "cropnet.format", json_string(CN_MODEL_FORMAT_NAME))
              || json_object_set_new(meta, "cropnet.version", json_string(version))
              || json_object_set_new(meta, "cropnet.arch", json_string(arch))
              || json_object_set_new(meta, "cropnet.crc32", json_string(crc_hex));
    free(arch);
    for (size_t i = 0; !bad && i < m->meta_count; i++)
        bad = json_object_set_new(meta, m->meta_keys[i], json_string(m->meta_values[i]));
    json_int_t off = 0;
    for (size_t i = 0; !bad && i < l->count; i++) {
        const cn_tensor *t = l->v[i].t;
        json_t *shape = json_array();
        for (int d = 0; d < cn_tensor_ndim(t); d++)
            json_array_append_new(shape, json_integer(cn_tensor_dim(t, d)));
        json_int_t end = off + (json_int_t)cn_tensor_numel(t) * 4;
        /* "O" adds a reference to shape; set_new takes the entry's, on failure too. */
        bad = json_array_size(shape) != (size_t)cn_tensor_ndim(t)
              || json_object_set_new(root, l->v[i].name,
                                     json_pack("{s:s, s:O, s:[I,I]}", "dtype", "F32", "shape",
                                               shape, "data_offsets", off, end));
        json_decref(shape);
        off = end;
    }
    json_decref(meta);
    *text = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return *text ? CN_OK : cn_set_error(CN_ENOMEM, "model: out of memory");
}

/* The mode of the new file: that of the file it replaces, else rw-r--r-- (mkstemp gives 0600). */
static mode_t file_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_mode & 07777 : 0644;
}

static cn_status write_file(const char *path, const char *header, size_t hlen,
                            const unsigned char *data, size_t dlen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmp-XXXXXX");
    if (!tmp)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cn_status st = cn_model_fail(path, CN_EIO, "cannot create a temporary file: %s",
                                     strerror(errno));
        free(tmp);
        return st;
    }
    const char *what = "cannot write";
    int err = 0;
    FILE *fp = NULL;
    if (fchmod(fd, file_mode(path)) != 0 || !(fp = fdopen(fd, "wb"))) {
        err = errno;
        close(fd);
    } else {
        /* The header is padded with spaces so the data starts 8-byte aligned. */
        size_t padded = (hlen + 7) & ~(size_t)7;
        unsigned char len8[8];
        put_u64le(len8, padded);
        errno = 0;
        bool ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(header, 1, hlen, fp) == hlen;
        for (size_t i = hlen; ok && i < padded; i++)
            ok = fputc(' ', fp) != EOF;
        ok = ok && (dlen == 0 || fwrite(data, 1, dlen, fp) == dlen) && fflush(fp) == 0;
        if (!ok)
            err = errno ? errno : EIO;
        if (fclose(fp) != 0 && !err)
            err = errno ? errno : EIO;
        if (!err && rename(tmp, path) != 0) {
            err = errno;
            what = "cannot rename the temporary file over it";
        }
    }
    if (err)
        unlink(tmp);
    free(tmp);
    return err ? cn_model_fail(path, CN_EIO, "%s: %s", what, strerror(err)) : CN_OK;
}

/* Pads the header with spaces so the data starts 8-byte aligned, then writes the checksum into
 * it: the CRC-32 of the padded header (its checksum digits still "00000000") followed by the data,
 * so a flipped byte anywhere in the file, metadata included, is caught on load. */
static cn_status seal_header(char **header, size_t *hlen, const unsigned char *data, size_t dlen)
{
    size_t len = strlen(*header), padded = (len + 7) & ~(size_t)7;
    char *h = realloc(*header, padded + 1);
    if (!h)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    memset(h + len, ' ', padded - len);
    h[padded] = '\0';
    *header = h;
    *hlen = padded;
    char *digits = strstr(h, CN_MODEL_CRC_KEY);
    if (!digits)
        return cn_set_error(CN_EINVAL, "model: checksum field missing from the header");
    digits += strlen(CN_MODEL_CRC_KEY);
    uint32_t crc = cn_crc32(cn_crc32(0, h, padded), data, dlen);
    char hex[9];
    snprintf(hex, sizeof hex, "%08lx", (unsigned long)crc);
    memcpy(digits, hex, 8);
    return CN_OK;
}

cn_status cn_model_save(const cn_model *model, const char *path)
{
    if (!model || !path)
        return cn_set_error(CN_EINVAL, "model: NULL argument");
    out_list l = {NULL, 0, 0};
    unsigned char *data = NULL;
    size_t dlen = 0;
    char *header = NULL;
    cn_status st = cn_model_walk_params(model->net, push_param, &l);
    for (size_t i = 0; !st && i < model->tensor_count; i++)
        st = list_push(&l, model->tensor_names[i], false, model->tensors[i]);
    if (!st)
        st = encode_data(&l, &data, &dlen);
    size_t hlen = 0;
    if (!st)
        st = build_header(model, &l, 0, &header);
    if (!st)
        st = seal_header(&header, &hlen, data, dlen);
    if (!st)
        st = write_file(path, header, hlen, data, dlen);
    else
        st = cn_model_fail(path, st, "%s", cn_last_error());
    free(header);
    free(data);
    list_free(&l);
    return st;
}
