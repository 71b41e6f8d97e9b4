/*
 * layer_impl.h — the layer object shared by the layer files (not part of the public API).
 *
 * A layer is a small struct with a table of operations, in the manner of Torch's nn.Module:
 * forward fills the layer's own output buffer, backward accumulates parameter gradients and fills
 * its grad_input buffer. Each kind lives in its own file and exposes only its ops table.
 */
#ifndef CROPNET_LAYER_IMPL_H
#define CROPNET_LAYER_IMPL_H

#include "cropnet.h"

#include <stdatomic.h>

typedef struct cn_layer_ops {
    /* Computes layer->output from in (shapes already non-NULL). */
    cn_status (*forward)(cn_layer *layer, const cn_tensor *in);
    /* Accumulates parameter gradients; fills layer->grad_input when want_grad_in. */
    cn_status (*backward)(cn_layer *layer, const cn_tensor *in, const cn_tensor *grad_out,
                          bool want_grad_in);
    /* The output buffer after forward (a sequential returns its last child's). */
    cn_tensor *(*output)(cn_layer *layer);
    /* Appends parameters from position *n on (bounded by cap); counts all of them. */
    void (*params)(cn_layer *layer, cn_tensor **params, cn_tensor **grads, size_t cap, size_t *n);
    /* Frees what the kind owns beyond the common fields. */
    void (*destroy)(cn_layer *layer);
    /* Containers: fills up to cap child layers (borrowed) and returns their count; NULL for
     * leaves. Recursion (modes, initialisation, cycle checks) goes through it. */
    size_t (*children)(cn_layer *layer, cn_layer **out, size_t cap);
    /* Draws the layer's own weights (not its children's) from rng; NULL when it has none. */
    void (*init)(cn_layer *layer, cn_init_kind kind, float std, cn_rng *rng);
} cn_layer_ops;

struct cn_layer {
    atomic_int refs;          /* references held */
    cn_layer_kind kind;
    const cn_layer_ops *ops;
    float param;              /* leaky slope / ELU alpha / dropout p */
    bool training;            /* training mode (dropout active, batch statistics); new: true */
    cn_tensor *output;        /* forward result, reused between calls */
    cn_tensor *grad_input;    /* backward result, reused between calls */
    /* linear */
    int64_t in, out;          /* input and output features */
    cn_tensor *weight;        /* out × in */
    cn_tensor *bias;          /* out */
    cn_tensor *grad_weight;   /* out × in, accumulated */
    cn_tensor *grad_bias;     /* out, accumulated */
    /* sequential */
    cn_layer **children;      /* owned references */
    size_t count, capacity;   /* children used / allocated */
    /* the convolutional kinds (conv.c, pool.c, ...): their own state, freed by their destroy */
    void *impl;
};

extern const cn_layer_ops cn_linear_ops;
extern const cn_layer_ops cn_activation_ops;
extern const cn_layer_ops cn_sequential_ops;

/* Draws the values of weight tensor w for the given fan-in and fan-out (init.c). */
void cn_init_fill(cn_tensor *w, int64_t fan_in, int64_t fan_out, cn_init_kind kind, float std,
                  cn_rng *rng);

/* Whether child is layer or lies anywhere inside it (through the children op). */
bool cn_layer_contains(cn_layer *layer, cn_layer *child);

/* Bounds of the convolutional layers' sizes, so that every product of them fits an int64 and
 * the GEMM dimensions (C·Πk rows, N·Πout columns) fit OpenBLAS's 32-bit integers. */
#define CN_WINDOW_MAX 65536          /* kernel, stride, padding, dilation per axis */
#define CN_CHANNELS_MAX (1 << 24)    /* channels, features */
#define CN_GEMM_DIM_MAX INT32_MAX    /* any GEMM dimension */

/* The size of one spatial axis of a convolution or pooling window: out = (in − F + 2P)/S + 1
 * with F = D·(k − 1) + 1, checked as cropnet_layers.h describes. On a stride that does not fit
 * (without floor) it fails with a message "<what>: <axis>: ..." giving the formula's numbers; an
 * output below 1 is reported as 0 with CN_OK, for the caller's "too small" message. */
cn_status cn_window_out(const char *what, const char *axis, int64_t in, int64_t k, int64_t s,
                        int64_t p, int64_t d, bool floor, int64_t *out);

/* Torch's message for an output smaller than 1: "<what>: Given input size: (…). Calculated
 * output size: (…). Output size is too small". Sizes are per sample (no batch dimension). */
cn_status cn_too_small(const char *what, int nin, const int64_t *in, int nout, const int64_t *out);
/* A zeroed layer of the given kind with one reference and empty output/grad buffers. */
cn_status cn_layer_alloc(cn_layer_kind kind, const cn_layer_ops *ops, cn_layer **out);

/* Adds one parameter pair at position *n when it fits under cap; always counts it. */
void cn_layer_push_param(cn_tensor *p, cn_tensor *g, cn_tensor **params, cn_tensor **grads,
                         size_t cap, size_t *n);

#endif
