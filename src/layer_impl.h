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
} cn_layer_ops;

struct cn_layer {
    atomic_int refs;          /* references held */
    cn_layer_kind kind;
    const cn_layer_ops *ops;
    float param;              /* leaky slope / ELU alpha */
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
};

extern const cn_layer_ops cn_linear_ops;
extern const cn_layer_ops cn_activation_ops;
extern const cn_layer_ops cn_sequential_ops;

/* A zeroed layer of the given kind with one reference and empty output/grad buffers. */
cn_status cn_layer_alloc(cn_layer_kind kind, const cn_layer_ops *ops, cn_layer **out);

/* Adds one parameter pair at position *n when it fits under cap; always counts it. */
void cn_layer_push_param(cn_tensor *p, cn_tensor *g, cn_tensor **params, cn_tensor **grads,
                         size_t cap, size_t *n);

#endif
