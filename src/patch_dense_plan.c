/*
 * patch_dense_plan.c — which leading layers of a patch network are shared between patches, and
 * each shared convolution's geometry: its clean outputs, its border outputs and their offsets,
 * its weights packed for the direct kernel (patch_dense_impl.h has the formulas).
 */
#include "patch_dense_impl.h"

#include "conv_impl.h"
#include "patch_head.h"

#include <stdlib.h>

static bool disabled;

void cn_patch_dense_disable(bool on) { disabled = on; }

cn_status cn_patch_dense_oom(void) { return cn_set_error(CN_ENOMEM, "predict: out of memory"); }

static bool is_dense_conv(const cn_layer *l, cn_conv_spec *spec)
{
    return cn_layer_kind_of(l) == CN_LAYER_CONV2D && cn_conv_get_spec(l, spec) &&
           spec->stride[0] == 1 && spec->stride[1] == 1 &&
           spec->kernel[0] * spec->kernel[1] <= CN_DIRECT_MAX_TAPS;
}

void cn_patch_dense_free(cn_patch_dense *dense)
{
    if (!dense)
        return;
    for (size_t i = 0; i < dense->count; i++) {
        dense_stage *st = &dense->stages[i];
        cn_layer_release(st->conv);
        for (size_t j = 0; j < st->npost; j++)
            cn_layer_release(st->post[j]);
        free(st->post);
        free(st->wp);
        free(st->toff_patch);
        free(st->toff_block);
        free(st->border_in);
        free(st->border_out);
        cn_tensor_release(st->dpre);
        cn_tensor_release(st->dmap);
        cn_tensor_release(st->y);
    }
    free(dense->stages);
    for (int i = 0; i < CN_PARALLEL_MAX_PARTS; i++) {
        free(dense->parts[i].origins);
        free(dense->parts[i].dst);
        free(dense->parts[i].pad);
    }
    free(dense);
}

/* Fills stage st for the convolution conv after the previous stage prev (NULL: the patch). */
static cn_status make_stage(dense_stage *st, cn_layer *conv, const cn_conv_spec *s,
                            const dense_stage *prev, int patch)
{
    st->conv = cn_layer_retain(conv);
    st->c = s->in;
    st->o = s->out;
    st->taps = s->kernel[0] * s->kernel[1];
    for (int a = 0; a < 2; a++) {
        st->k[a] = s->kernel[a];
        st->d[a] = s->dilation[a];
        st->p[a] = s->padding[a];
        st->in[a] = prev ? prev->side[a] : patch;
        const int64_t span = st->d[a] * (st->k[a] - 1);
        st->side[a] = st->in[a] + 2 * st->p[a] - span;
        st->lo[a] = (prev ? prev->lo[a] : 0) + st->p[a];
        st->hi[a] = (prev ? prev->hi[a] : patch) + st->p[a] - span; /* > lo: count_stack */
        st->shift[a] = (prev ? prev->shift[a] : 0) + st->p[a];
    }
    const int64_t opad = (st->o + 15) / 16 * 16, wpad = st->in[1] + 2 * st->p[1];
    const int64_t outputs = st->side[0] * st->side[1];
    st->wp = malloc((size_t)(st->c * st->taps * opad) * sizeof *st->wp);
    st->toff_patch = malloc((size_t)st->taps * sizeof *st->toff_patch);
    st->toff_block = malloc((size_t)st->taps * sizeof *st->toff_block);
    st->border_in = malloc((size_t)outputs * sizeof *st->border_in);
    st->border_out = malloc((size_t)outputs * sizeof *st->border_out);
    if (!st->wp || !st->toff_patch || !st->toff_block || !st->border_in || !st->border_out)
        return cn_patch_dense_oom();
    cn_tensor *params[2] = {NULL, NULL};
    cn_layer_params(conv, params, NULL, 2);
    cn_conv_direct_pack(cn_tensor_cdata(params[0]), st->o, st->c, st->taps, false, st->wp);
    st->bias = s->bias ? cn_tensor_cdata(params[1]) : NULL;
    for (int64_t ky = 0, t = 0; ky < st->k[0]; ky++)
        for (int64_t kx = 0; kx < st->k[1]; kx++, t++)
            st->toff_patch[t] = ky * st->d[0] * wpad + kx * st->d[1];
    for (int64_t y = 0; y < st->side[0]; y++)
        for (int64_t x = 0; x < st->side[1]; x++) {
            if (y >= st->lo[0] && y < st->hi[0] && x >= st->lo[1] && x < st->hi[1])
                continue;
            st->border_in[st->nborder] = y * wpad + x;
            st->border_out[st->nborder++] = y * st->side[1] + x;
        }
    int64_t one[4] = {1, st->o, 1, 1};
    cn_status err = cn_tensor_new(4, one, &st->dpre);
    if (!err)
        err = cn_tensor_new(4, one, &st->dmap);
    if (!err)
        err = cn_tensor_new(4, one, &st->y);
    return err;
}

/* The stack: n stages from child 0, the layers after it from child end. It ends before a
 * convolution none of whose outputs would be clean (all would depend on the patch's padding, as
 * happens when 'same'-padded convolutions pile up on a small patch): sharing it would save
 * nothing, and its dense map could be larger than a block. */
static size_t count_stack(cn_layer *net, int patch, size_t *end)
{
    size_t i = 0, n = 0, total = cn_sequential_count(net);
    int64_t lo[2] = {0, 0}, hi[2] = {patch, patch};
    cn_conv_spec s;
    while (i < total && is_dense_conv(cn_sequential_child(net, i), &s)) {
        bool clean = true;
        for (int a = 0; a < 2; a++) {
            lo[a] += s.padding[a];
            hi[a] += s.padding[a] - s.dilation[a] * (s.kernel[a] - 1);
            clean = clean && hi[a] > lo[a];
        }
        if (!clean)
            break;
        n++;
        i++;
        while (i < total && cn_layer_is_elementwise(cn_sequential_child(net, i)))
            i++;
    }
    *end = i;
    return n;
}

static cn_status build(cn_layer *net, size_t nstages, int64_t channels, int patch,
                       cn_patch_dense *d)
{
    if (!(d->stages = calloc(nstages, sizeof *d->stages)))
        return cn_patch_dense_oom();
    d->channels = channels;
    size_t at = 0;
    for (; d->count < nstages; d->count++) {
        dense_stage *st = &d->stages[d->count];
        cn_conv_spec s;
        cn_layer *conv = cn_sequential_child(net, at++);
        cn_conv_get_spec(conv, &s);
        cn_status err = make_stage(st, conv, &s, d->count ? st - 1 : NULL, patch);
        if (err)
            return err;
        size_t first = at;
        while (at < cn_sequential_count(net) && cn_layer_is_elementwise(cn_sequential_child(net, at)))
            at++;
        if (at > first && !(st->post = calloc(at - first, sizeof *st->post)))
            return cn_patch_dense_oom();
        for (size_t i = first; i < at; i++)
            st->post[st->npost++] = cn_layer_retain(cn_sequential_child(net, i));
    }
    return CN_OK;
}

cn_status cn_patch_dense_plan(cn_layer *net, int64_t channels, int patch, cn_patch_dense **dense,
                              cn_layer **rest)
{
    *dense = NULL;
    *rest = cn_layer_retain(net);
    if (disabled || !cn_conv_direct_available() || cn_layer_kind_of(net) != CN_LAYER_SEQUENTIAL)
        return CN_OK;
    size_t end, nstages = count_stack(net, patch, &end);
    if (nstages == 0 || end == cn_sequential_count(net))
        return CN_OK;
    cn_patch_dense *d = calloc(1, sizeof *d);
    if (!d)
        return cn_patch_dense_oom();
    cn_layer *tail = NULL;
    cn_status err = build(net, nstages, channels, patch, d);
    if (!err)
        err = cn_sequential_from(net, end, &tail);
    if (err) {
        cn_patch_dense_free(d);
        return err;
    }
    cn_layer_release(*rest);
    *rest = tail;
    *dense = d;
    return CN_OK;
}

/* Scratch for parts parts: positions of `positions` outputs and a padded map of pad floats. */
