/*
 * patch_head.c — the leading per-pixel layers of a patch network, run over pixels rather than
 * patches (see patch_head.h for why).
 *
 * A 1×1 convolution over a batch of single pixels is a dense layer: one GEMM of the chunk's
 * pixel matrix with the weight (out × in) transposed, where the convolution layer itself, made
 * for images, would run one matrix-vector product per pixel. The other head layers are
 * element-wise or per channel and run as they are on the chunk × channels matrix.
 */
#include "patch_head.h"

#include <stdlib.h>
#include <string.h>

typedef struct head_step {
    cn_layer *layer;       /* one reference */
    bool conv;             /* a 1×1 convolution, run here as a GEMM */
    int64_t in, out;       /* its channels */
    const float *weight;   /* out × in, borrowed from the layer */
    const float *bias;     /* out, or NULL */
    cn_tensor *y;          /* CN_HEAD_CHUNK × out (owned) */
} head_step;

struct cn_patch_head {
    int64_t bands, channels;
    size_t count;
    head_step *steps;
    cn_tensor *x; /* CN_HEAD_CHUNK × bands (owned) */
};

bool cn_layer_is_elementwise(const cn_layer *layer)
{
    cn_layer_kind kind = cn_layer_kind_of(layer);
    if (kind == CN_LAYER_BATCHNORM || kind == CN_LAYER_DROPOUT)
        return !cn_layer_is_training(layer);
    return cn_layer_kind_is_activation(kind);
}

/* Whether layer gives each pixel a value of that pixel alone: a 2-D pointwise convolution (a 3-D
 * one mixes each band position of a view separately), or an element-wise layer. */
static bool is_per_pixel(const cn_layer *layer)
{
    if (cn_layer_kind_of(layer) == CN_LAYER_CONV2D)
        return cn_conv_is_pointwise(layer);
    return cn_layer_is_elementwise(layer);
}

void cn_patch_head_free(cn_patch_head *head)
{
    if (!head)
        return;
    for (size_t i = 0; i < head->count; i++) {
        cn_layer_release(head->steps[i].layer);
        cn_tensor_release(head->steps[i].y);
    }
    free(head->steps);
    cn_tensor_release(head->x);
    free(head);
}

/* The head of the first count children of net; channels are traced from bands. */
static cn_status make_head(cn_layer *net, size_t count, int64_t bands, cn_patch_head **out)
{
    cn_patch_head *h = calloc(1, sizeof *h);
    if (!h || !(h->steps = calloc(count, sizeof *h->steps))) {
        free(h);
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    }
    h->bands = h->channels = bands;
    cn_status st = cn_tensor_new2(CN_HEAD_CHUNK, bands, &h->x);
    for (size_t i = 0; i < count && !st; i++, h->count++) {
        head_step *s = &h->steps[i];
        s->layer = cn_layer_retain(cn_sequential_child(net, i));
        cn_conv_spec spec;
        if (!cn_conv_get_spec(s->layer, &spec))
            continue;
        cn_tensor *params[2] = {NULL, NULL};
        cn_layer_params(s->layer, params, NULL, 2);
        s->conv = true;
        s->in = spec.in;
        s->out = spec.out;
        s->weight = cn_tensor_cdata(params[0]);
        s->bias = spec.bias ? cn_tensor_cdata(params[1]) : NULL;
        h->channels = spec.out;
        st = cn_tensor_new2(CN_HEAD_CHUNK, spec.out, &s->y);
    }
    if (st) {
        cn_patch_head_free(h);
        return st;
    }
    *out = h;
    return CN_OK;
}

cn_status cn_patch_head_split(cn_layer *net, int64_t bands, cn_patch_head **head,
                              cn_layer **tail, int64_t *channels)
{
    *head = NULL;
    *tail = cn_layer_retain(net);
    *channels = bands;
    if (cn_layer_kind_of(net) != CN_LAYER_SEQUENTIAL)
        return CN_OK;
    size_t count = 0, total = cn_sequential_count(net);
    int64_t width = bands;
    while (count < total && is_per_pixel(cn_sequential_child(net, count))) {
        cn_conv_spec spec;
        if (cn_conv_get_spec(cn_sequential_child(net, count), &spec))
            width = spec.out;
        count++;
    }
    if (count == 0 || count == total || width > bands)
        return CN_OK;
    cn_patch_head *h = NULL;
    cn_layer *rest;
    cn_status st = make_head(net, count, bands, &h);
    if (st)
        return st;
    if ((st = cn_sequential_from(net, count, &rest))) {
        cn_patch_head_free(h);
        return st;
    }
    cn_layer_release(*tail);
    *head = h;
    *tail = rest;
    *channels = h->channels;
    return CN_OK;
}

cn_status cn_patch_head_run(cn_patch_head *head, const float *pixels, int64_t n,
                            const float **out)
{
    if (!head || !pixels || !out || n < 1 || n > CN_HEAD_CHUNK)
        return cn_set_error(CN_EINVAL, "patch head: bad arguments (%lld pixels)", (long long)n);
    float *x = cn_tensor_data(head->x);
    memcpy(x, pixels, (size_t)(n * head->bands) * sizeof *x);
    memset(x + n * head->bands, 0, (size_t)((CN_HEAD_CHUNK - n) * head->bands) * sizeof *x);
    cn_tensor *cur = head->x;
    for (size_t i = 0; i < head->count; i++) {
        head_step *s = &head->steps[i];
        if (!s->conv) {
            cn_status st = cn_layer_forward(s->layer, cur, &cur);
            if (st)
                return st;
            continue;
        }
        float *y = cn_tensor_data(s->y);
        for (int64_t p = 0; p < CN_HEAD_CHUNK; p++)
            if (s->bias)
                memcpy(y + p * s->out, s->bias, (size_t)s->out * sizeof *y);
            else
                memset(y + p * s->out, 0, (size_t)s->out * sizeof *y);
        cn_gemm(false, true, CN_HEAD_CHUNK, s->out, s->in, 1.0f, cn_tensor_cdata(cur), s->in,
                s->weight, s->in, 1.0f, y, s->out);
        cur = s->y;
    }
    *out = cn_tensor_cdata(cur);
    return CN_OK;
}
