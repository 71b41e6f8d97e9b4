/*
 * reshape.c — layers that change the shape of each sample and not its values: flatten (Torch's
 * nn.View(-1) on batches, PyTorch's Flatten) and view (nn.View with sizes).
 *
 * Tensors own their storage, so the output is a copy; these layers sit where a feature map meets
 * a dense layer, and the maps there are small. The batch dimension is always kept.
 */
#include "layer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct view_impl {
    int ndim;                        /* per-sample dimensions */
    int64_t dims[CN_MAX_DIMS - 1];   /* sizes; at most one −1 */
} view_impl;

/* The output shape of in: (N, per-sample sizes), or a shape error. */
static cn_status out_shape(const cn_layer *l, const cn_tensor *in, int *nd, int64_t *dims)
{
    const char *what = cn_layer_kind_name(l->kind);
    char buf[96];
    if (cn_tensor_ndim(in) < 2)
        return cn_set_error(CN_ESHAPE, "%s: given input size %s, expected a batch (N x ...)",
                            what, cn_tensor_shape_str(in, buf, sizeof buf));
    int64_t n = cn_tensor_dim(in, 0), per = 1;
    for (int i = 1; i < cn_tensor_ndim(in); i++)
        per *= cn_tensor_dim(in, i);
    dims[0] = n;
    if (l->kind == CN_LAYER_FLATTEN) {
        dims[1] = per;
        *nd = 2;
        return CN_OK;
    }
    const view_impl *v = l->impl;
    int64_t known = 1;
    int free_at = -1;
    for (int i = 0; i < v->ndim; i++) {
        if (v->dims[i] < 0)
            free_at = i;
        else
            known *= v->dims[i];
        dims[1 + i] = v->dims[i];
    }
    bool ok = free_at >= 0 ? known > 0 && per % known == 0 : known == per;
    if (!ok) {
        char want[96];
        size_t used = 0;
        for (int i = 0; i < v->ndim && used < sizeof want; i++)
            used += (size_t)snprintf(want + used, sizeof want - used, "%s%lld", i ? " x " : "",
                                     (long long)v->dims[i]);
        return cn_set_error(CN_ESHAPE, "view: given input size %s has %lld values per sample, "
                            "which cannot be viewed as (%s)",
                            cn_tensor_shape_str(in, buf, sizeof buf), (long long)per, want);
    }
    if (free_at >= 0)
        dims[1 + free_at] = per / known;
    *nd = 1 + v->ndim;
    return CN_OK;
}

static cn_status reshape_forward(cn_layer *l, const cn_tensor *in)
{
    int nd = 0;
    int64_t dims[CN_MAX_DIMS];
    cn_status st = out_shape(l, in, &nd, dims);
    if (st || (st = cn_tensor_resize(l->output, nd, dims)))
        return st;
    memcpy(cn_tensor_data(l->output), cn_tensor_cdata(in),
           (size_t)cn_tensor_numel(in) * sizeof(float));
    return CN_OK;
}

static cn_status reshape_backward(cn_layer *l, const cn_tensor *in, const cn_tensor *grad_out,
                                  bool want_grad_in)
{
    if (!want_grad_in)
        return CN_OK;
    if (cn_tensor_numel(in) != cn_tensor_numel(grad_out)) {
        char a[96], b[96];
        return cn_set_error(CN_ESHAPE, "%s backward: input %s does not match gradient %s",
                            cn_layer_kind_name(l->kind), cn_tensor_shape_str(in, a, sizeof a),
                            cn_tensor_shape_str(grad_out, b, sizeof b));
    }
    cn_status st = cn_tensor_resize_as(l->grad_input, in);
    if (!st)
        memcpy(cn_tensor_data(l->grad_input), cn_tensor_cdata(grad_out),
               (size_t)cn_tensor_numel(in) * sizeof(float));
    return st;
}

static cn_tensor *reshape_output(cn_layer *l) { return l->output; }

static void view_destroy(cn_layer *l) { free(l->impl); }

static const cn_layer_ops reshape_ops = {reshape_forward, reshape_backward, reshape_output, NULL,
                                         view_destroy, NULL, NULL};

cn_status cn_flatten_new(cn_layer **layer)
{
    if (!layer)
        return cn_set_error(CN_EINVAL, "flatten: NULL argument");
    return cn_layer_alloc(CN_LAYER_FLATTEN, &reshape_ops, layer);
}

cn_status cn_view_new(int ndim, const int64_t *dims, cn_layer **layer)
{
    if (!layer || !dims || ndim < 1 || ndim > CN_MAX_DIMS - 1)
        return cn_set_error(CN_EINVAL, "view: 1 to %d sizes per sample expected", CN_MAX_DIMS - 1);
    int inferred = 0;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] == -1) {
            inferred++;
            continue;
        }
        if (dims[i] < 1 || dims[i] > CN_CHANNELS_MAX)
            return cn_set_error(CN_EINVAL, "view: size %lld must be 1 to %d, or -1 (inferred)",
                                (long long)dims[i], CN_CHANNELS_MAX);
        known *= dims[i];
        if (known > CN_GEMM_DIM_MAX)
            return cn_set_error(CN_EINVAL, "view: more than %d values per sample",
                                CN_GEMM_DIM_MAX);
    }
    if (inferred > 1)
        return cn_set_error(CN_EINVAL, "view: at most one size may be -1");
    view_impl *v = calloc(1, sizeof *v);
    if (!v)
        return cn_set_error(CN_ENOMEM, "view: out of memory");
    v->ndim = ndim;
    memcpy(v->dims, dims, (size_t)ndim * sizeof *dims);
    cn_status st = cn_layer_alloc(CN_LAYER_VIEW, &reshape_ops, layer);
    if (st) {
        free(v);
        return st;
    }
    (*layer)->impl = v;
    return CN_OK;
}

int cn_view_get_shape(const cn_layer *layer, int64_t *dims)
{
    if (!layer || layer->kind != CN_LAYER_VIEW)
        return 0;
    const view_impl *v = layer->impl;
    memcpy(dims, v->dims, (size_t)v->ndim * sizeof *dims);
    return v->ndim;
}
