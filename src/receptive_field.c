/*
 * receptive_field.c — how many input pixels one output of a network looks at, for patch models
 * (the model file stores it as "receptive_field").
 *
 * The classic recurrence: walking the layers in order with r (the field so far, 1 at the input)
 * and j (the input pixels between two neighbouring positions of the current feature map, 1 at
 * the input), a window of effective size F = D·(k − 1) + 1 with stride S gives r += (F − 1)·j,
 * j *= S. A layer that mixes every position (global pooling, flatten, view, linear) makes the
 * output depend on the whole input. Values saturate just past the patch, where the answer is
 * the patch anyway.
 */
#include "cropnet.h"

typedef struct field {
    int64_t r, j;  /* field and jump, saturated at cap */
    int64_t cap;   /* patch + 1 */
    bool global;   /* every input pixel counts */
} field;

static int64_t sat(int64_t v, int64_t cap) { return v > cap ? cap : v; }

/* A window of extents ext (per spatial axis: its largest) and stride s. */
static void window(field *f, int64_t ext, int64_t s)
{
    f->r = sat(f->r + sat(ext, f->cap) * f->j, f->cap);
    f->j = sat(f->j * sat(s, f->cap), f->cap);
}

static void walk(cn_layer *l, field *f)
{
    if (f->global)
        return;
    switch (cn_layer_kind_of(l)) {
    case CN_LAYER_CONV2D:
    case CN_LAYER_CONV3D: {
        cn_conv_spec s;
        cn_conv_get_spec(l, &s);
        int64_t ext = 0, stride = 1;
        for (int i = s.dims - 2; i < s.dims; i++) { /* (H, W): a 3-D conv's D is spectral */
            int64_t e = s.dilation[i] * (s.kernel[i] - 1);
            ext = e > ext ? e : ext;
            stride = s.stride[i] > stride ? s.stride[i] : stride;
        }
        window(f, ext, stride);
        break;
    }
    case CN_LAYER_MAX_POOL2D:
    case CN_LAYER_AVG_POOL2D: {
        cn_pool_spec s;
        cn_pool_get_spec(l, &s);
        int64_t e0 = s.kernel[0] - 1, e1 = s.kernel[1] - 1;
        window(f, e0 > e1 ? e0 : e1, s.stride[0] > s.stride[1] ? s.stride[0] : s.stride[1]);
        break;
    }
    case CN_LAYER_GLOBAL_AVG_POOL:
    case CN_LAYER_FLATTEN:
    case CN_LAYER_VIEW:
    case CN_LAYER_LINEAR:
        f->global = true;
        break;
    case CN_LAYER_SEQUENTIAL:
        for (size_t i = 0, n = cn_sequential_count(l); i < n; i++)
            walk(cn_sequential_child(l, i), f);
        break;
    case CN_LAYER_RESIDUAL: {
        field a = *f, b = *f;
        walk(cn_residual_inner(l), &a);
        if (cn_residual_projection(l))
            walk(cn_residual_projection(l), &b);
        f->r = a.r > b.r ? a.r : b.r;
        f->j = a.j > b.j ? a.j : b.j;
        f->global = a.global || b.global;
        break;
    }
    default: /* element-wise: activations, batch normalisation, dropout */
        break;
    }
}

cn_status cn_net_receptive_field(cn_layer *net, int patch, int *rf)
{
    if (!net || !rf || patch < 1)
        return cn_set_error(CN_EINVAL, "receptive field: bad arguments (patch %d)", patch);
    field f = {1, 1, (int64_t)patch + 1, false};
    walk(net, &f);
    *rf = f.global || f.r > patch ? patch : (int)f.r;
    return CN_OK;
}
