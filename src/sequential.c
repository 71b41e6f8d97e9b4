/*
 * sequential.c — the container that chains layers, Torch's nn.Sequential.
 *
 * It owns references to its children and no buffers of its own: its output is the last child's
 * output and its input gradient the first child's, so chaining costs no copy.
 */
#include "layer_impl.h"

#include <stdlib.h>

static cn_status seq_forward(cn_layer *l, const cn_tensor *in)
{
    const cn_tensor *x = in;
    for (size_t i = 0; i < l->count; i++) {
        cn_tensor *y;
        cn_status st = cn_layer_forward(l->children[i], x, &y);
        if (st)
            return st;
        x = y;
    }
    if (l->count == 0) /* an empty container is the identity */
        return cn_tensor_copy(l->output, in);
    return CN_OK;
}

static cn_tensor *seq_output_of(cn_layer *c) { return c->ops->output(c); }

static cn_status seq_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                              bool want_grad_in)
{
    if (l->count == 0)
        return want_grad_in ? cn_tensor_copy(l->grad_input, grad_out) : CN_OK;
    const cn_tensor *g = grad_out;
    for (size_t i = l->count; i-- > 0;) {
        cn_layer *c = l->children[i];
        const cn_tensor *x = i ? seq_output_of(l->children[i - 1]) : in;
        cn_tensor *gx = NULL;
        cn_status st = cn_layer_backward(c, x, g, i > 0 || want_grad_in ? &gx : NULL);
        if (st)
            return st;
        g = gx;
    }
    return CN_OK;
}

static cn_tensor *seq_output(cn_layer *l)
{
    return l->count ? l->children[l->count - 1]->ops->output(l->children[l->count - 1]) : l->output;
}

static void seq_params(cn_layer *l, cn_tensor **params, cn_tensor **grads, size_t cap, size_t *n)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->children[i]->ops->params)
            l->children[i]->ops->params(l->children[i], params, grads, cap, n);
}

static void seq_destroy(cn_layer *l)
{
    for (size_t i = 0; i < l->count; i++)
        cn_layer_release(l->children[i]);
    free(l->children);
}

static size_t seq_children(cn_layer *l, cn_layer **out, size_t cap)
{
    for (size_t i = 0; i < l->count && i < cap; i++)
        out[i] = l->children[i];
    return l->count;
}

const cn_layer_ops cn_sequential_ops = {seq_forward, seq_backward, seq_output, seq_params,
                                        seq_destroy, seq_children, NULL};

cn_status cn_sequential_new(cn_layer **layer)
{
    if (!layer)
        return cn_set_error(CN_EINVAL, "sequential: NULL argument");
    return cn_layer_alloc(CN_LAYER_SEQUENTIAL, &cn_sequential_ops, layer);
}

cn_status cn_sequential_add(cn_layer *seq, cn_layer *child)
{
    if (!seq || seq->kind != CN_LAYER_SEQUENTIAL || !child)
        return cn_set_error(CN_EINVAL, "sequential add: needs a sequential and a layer");
    if (cn_layer_contains(child, seq))
        return cn_set_error(CN_EINVAL, "sequential add: a container cannot contain itself");
    /* A layer keeps one output buffer, so it can appear only once on a forward path. */
    if (cn_layer_contains(seq, child))
        return cn_set_error(CN_EINVAL, "sequential add: the layer is already in this container");
    if (seq->count == seq->capacity) {
        size_t cap = seq->capacity ? seq->capacity * 2 : 8;
        cn_layer **p = realloc(seq->children, cap * sizeof *p);
        if (!p)
            return cn_set_error(CN_ENOMEM, "sequential add: out of memory");
        seq->children = p;
        seq->capacity = cap;
    }
    seq->children[seq->count++] = cn_layer_retain(child);
    return CN_OK;
}

size_t cn_sequential_count(const cn_layer *seq)
{
    return seq && seq->kind == CN_LAYER_SEQUENTIAL ? seq->count : 0;
}

cn_layer *cn_sequential_child(cn_layer *seq, size_t i)
{
    return seq && seq->kind == CN_LAYER_SEQUENTIAL && i < seq->count ? seq->children[i] : NULL;
}

cn_status cn_sequential_from(cn_layer *seq, size_t first, cn_layer **out)
{
    if (!seq || !out || seq->kind != CN_LAYER_SEQUENTIAL)
        return cn_set_error(CN_EINVAL, "sequential: not a sequential");
    cn_status st = cn_sequential_new(out);
    for (size_t i = first; !st && i < seq->count; i++)
        st = cn_sequential_add(*out, seq->children[i]);
    if (st) {
        cn_layer_release(*out);
        *out = NULL;
    }
    return st;
}
