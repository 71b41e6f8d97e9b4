/*
 * tensor.c — contiguous float32 tensors of up to four dimensions.
 *
 * Storage is 64-byte aligned (one cache line, one AVX-512 register) and grows but never shrinks on
 * resize, so layer buffers reused batch after batch stop allocating after the first batch. Tensors
 * are reference counted because a layer's output buffer may also be held by a Lua value.
 */
#include "cropnet.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cn_tensor {
    atomic_int refs;          /* references held; freed when it reaches 0 */
    int ndim;                 /* 1..CN_MAX_DIMS */
    int64_t dims[CN_MAX_DIMS];/* sizes; unused entries are 1 */
    int64_t numel;            /* product of dims[0..ndim) */
    size_t capacity;          /* floats allocated at data */
    float *data;              /* 64-byte aligned, or NULL when capacity is 0 */
};

/* numel of a shape, checked: every dim >= 0 and the byte size fits in size_t. */
static cn_status shape_numel(int ndim, const int64_t *dims, int64_t *numel)
{
    if (ndim < 1 || ndim > CN_MAX_DIMS || !dims)
        return cn_set_error(CN_EINVAL, "tensor: %d dimensions (expected 1 to %d)", ndim, CN_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return cn_set_error(CN_EINVAL, "tensor: dimension %d is negative (%lld)", i + 1,
                                (long long)dims[i]);
        if (dims[i] != 0 && n > (int64_t)(SIZE_MAX / sizeof(float) / 64) / dims[i])
            return cn_set_error(CN_EOVERFLOW, "tensor: element count overflows");
        n *= dims[i];
    }
    *numel = n;
    return CN_OK;
}

static cn_status reserve(cn_tensor *t, int64_t numel)
{
    if ((size_t)numel <= t->capacity)
        return CN_OK;
    size_t bytes = ((size_t)numel * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (!p)
        return cn_set_error(CN_ENOMEM, "tensor: cannot allocate %zu bytes", bytes);
    free(t->data);
    t->data = p;
    t->capacity = bytes / sizeof(float);
    return CN_OK;
}

static void set_shape(cn_tensor *t, int ndim, const int64_t *dims, int64_t numel)
{
    t->ndim = ndim;
    for (int i = 0; i < CN_MAX_DIMS; i++)
        t->dims[i] = i < ndim ? dims[i] : 1;
    t->numel = numel;
}

cn_status cn_tensor_new(int ndim, const int64_t *dims, cn_tensor **out)
{
    int64_t numel;
    cn_status st = shape_numel(ndim, dims, &numel);
    if (st)
        return st;
    cn_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return cn_set_error(CN_ENOMEM, "tensor: out of memory");
    atomic_init(&t->refs, 1);
    if ((st = reserve(t, numel))) {
        free(t);
        return st;
    }
    set_shape(t, ndim, dims, numel);
    if (numel)
        memset(t->data, 0, (size_t)numel * sizeof(float));
    *out = t;
    return CN_OK;
}

cn_status cn_tensor_new2(int64_t rows, int64_t cols, cn_tensor **out)
{
    int64_t dims[2] = {rows, cols};
    return cn_tensor_new(2, dims, out);
}

cn_tensor *cn_tensor_retain(cn_tensor *t)
{
    if (t)
        atomic_fetch_add(&t->refs, 1);
    return t;
}

void cn_tensor_release(cn_tensor *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
        free(t->data);
        free(t);
    }
}

int cn_tensor_ndim(const cn_tensor *t) { return t->ndim; }
int64_t cn_tensor_dim(const cn_tensor *t, int i) { return i >= 0 && i < t->ndim ? t->dims[i] : 0; }
int64_t cn_tensor_numel(const cn_tensor *t) { return t->numel; }
float *cn_tensor_data(cn_tensor *t) { return t->data; }
const float *cn_tensor_cdata(const cn_tensor *t) { return t->data; }

bool cn_tensor_same_shape(const cn_tensor *a, const cn_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

char *cn_tensor_shape_str(const cn_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (int i = 0; i < t->ndim && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%lld", i ? " x " : "(", (long long)t->dims[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used < size)
        snprintf(buf + used, size - used, ")");
    return buf;
}

cn_status cn_tensor_resize(cn_tensor *t, int ndim, const int64_t *dims)
{
    int64_t numel;
    cn_status st = shape_numel(ndim, dims, &numel);
    if (st || (st = reserve(t, numel)))
        return st;
    set_shape(t, ndim, dims, numel);
    return CN_OK;
}

cn_status cn_tensor_resize_as(cn_tensor *t, const cn_tensor *like)
{
    return cn_tensor_resize(t, like->ndim, like->dims);
}

cn_status cn_tensor_copy(cn_tensor *dst, const cn_tensor *src)
{
    if (dst == src)
        return CN_OK;
    cn_status st = cn_tensor_resize_as(dst, src);
    if (st)
        return st;
    if (src->numel)
        memcpy(dst->data, src->data, (size_t)src->numel * sizeof(float));
    return CN_OK;
}

void cn_tensor_fill(cn_tensor *t, float value)
{
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = value;
}

cn_status cn_tensor_gather_rows(cn_tensor *dst, const cn_tensor *src, const int64_t *index,
                                int64_t count)
{
    if (dst == src || count < 0)
        return cn_set_error(CN_EINVAL, "gather_rows: bad arguments");
    int64_t rows = src->dims[0], cols = rows ? src->numel / rows : 0;
    int64_t dims[CN_MAX_DIMS];
    memcpy(dims, src->dims, sizeof dims);
    dims[0] = count;
    cn_status st = cn_tensor_resize(dst, src->ndim, dims);
    if (st)
        return st;
    for (int64_t i = 0; i < count; i++) {
        if (index[i] < 0 || index[i] >= rows)
            return cn_set_error(CN_EINVAL, "gather_rows: index %lld outside 0..%lld",
                                (long long)index[i], (long long)rows - 1);
        memcpy(dst->data + i * cols, src->data + index[i] * cols, (size_t)cols * sizeof(float));
    }
    return CN_OK;
}
