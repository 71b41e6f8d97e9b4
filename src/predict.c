/*
 * predict.c — per-pixel prediction with a model: its raster metadata read once (bands, classes,
 * normalisation), then any number of pixels normalised, run through the network in batches of
 * CN_PREDICT_BATCH, soft-maxed and reduced to class ids, confidences and probabilities.
 *
 * The batch buffer is the predictor's own and the network's layers keep their forward buffers,
 * so memory is fixed by the batch size and the layer widths whatever n is. The metadata comes
 * from a file and is checked like one: sizes against each other and against the network.
 */
#include "model_meta.h"

#include <stdlib.h>
#include <string.h>

struct cn_pixel_model {
    cn_layer *net;          /* one reference: the predictor outlives the model if need be */
    cn_raster_meta meta;    /* bands, classes, normalisation, band names */
    cn_tensor *batch;       /* CN_PREDICT_BATCH × bands input buffer (owned) */
};

/* Input width of a network where its first linear layer fixes it, 0 otherwise. */
static int64_t net_in(cn_layer *l)
{
    cn_layer_kind k = cn_layer_kind_of(l);
    if (k == CN_LAYER_LINEAR)
        return cn_linear_in(l);
    for (size_t i = 0, n = k == CN_LAYER_SEQUENTIAL ? cn_sequential_count(l) : 0; i < n; i++) {
        int64_t w = net_in(cn_sequential_child(l, i));
        if (w)
            return w;
    }
    return 0;
}

/* Output width where the last linear layer fixes it, 0 otherwise. */
static int64_t net_out(cn_layer *l)
{
    cn_layer_kind k = cn_layer_kind_of(l);
    if (k == CN_LAYER_LINEAR)
        return cn_linear_out(l);
    for (size_t i = k == CN_LAYER_SEQUENTIAL ? cn_sequential_count(l) : 0; i-- > 0;) {
        int64_t w = net_out(cn_sequential_child(l, i));
        if (w)
            return w;
    }
    return 0;
}

static cn_status read_kind(cn_model *model)
{
    const char *input = cn_model_get_meta(model, "input");
    const char *rf = cn_model_get_meta(model, "receptive_field");
    if (input && strcmp(input, "pixel") != 0)
        return cn_set_error(CN_EINVAL, "model: is a %s model (\"input\" is \"%s\"); only per-pixel "
                            "models are supported here (a %s model needs the pixels around each "
                            "one: classify it with cropnet classify)", input, input, input);
    if (rf && strcmp(rf, "1") != 0)
        return cn_set_error(CN_EINVAL, "model: has a receptive field of %s pixels; only per-pixel "
                            "models (receptive field 1) are supported here", rf);
    return CN_OK;
}

cn_status cn_pixel_model_open(cn_model *model, cn_pixel_model **out)
{
    if (!model || !out)
        return cn_set_error(CN_EINVAL, "model: NULL argument");
    *out = NULL;
    cn_pixel_model *pm = calloc(1, sizeof *pm);
    if (!pm)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    pm->net = cn_layer_retain(cn_model_net(model));
    cn_status st;
    if ((st = read_kind(model)) || (st = cn_raster_meta_read(model, &pm->meta)))
        goto fail;
    int64_t in = net_in(pm->net), outw = net_out(pm->net);
    if (in && in != pm->meta.bands) {
        st = cn_set_error(CN_EFORMAT, "model: the network takes %lld inputs, but \"bands\" is %d",
                          (long long)in, pm->meta.bands);
        goto fail;
    }
    if (outw && outw != (int64_t)pm->meta.nclasses) {
        st = cn_set_error(CN_EFORMAT, "model: the network has %lld outputs, but \"classes\" lists "
                          "%zu", (long long)outw, pm->meta.nclasses);
        goto fail;
    }
    if ((st = cn_tensor_new2(CN_PREDICT_BATCH, pm->meta.bands, &pm->batch)))
        goto fail;
    *out = pm;
    return CN_OK;
fail:
    cn_pixel_model_close(pm);
    return st;
}

void cn_pixel_model_close(cn_pixel_model *pm)
{
    if (!pm)
        return;
    cn_raster_meta_free(&pm->meta);
    cn_tensor_release(pm->batch);
    cn_layer_release(pm->net);
    free(pm);
}

int cn_pixel_model_bands(const cn_pixel_model *pm) { return pm->meta.bands; }
int cn_pixel_model_max_id(const cn_pixel_model *pm) { return pm->meta.max_id; }

const cn_class_info *cn_pixel_model_classes(const cn_pixel_model *pm, size_t *count)
{
    if (count)
        *count = pm->meta.nclasses;
    return pm->meta.classes;
}

const char *cn_pixel_model_band_name(const cn_pixel_model *pm, int band)
{
    return cn_raster_meta_band_name(&pm->meta, band);
}

cn_status cn_pixel_model_predict(cn_pixel_model *pm, const float *pixels, int64_t n,
                                 int32_t *labels, float *confidence, float *probs)
{
    if (n < 0 || (n > 0 && (!pixels || !labels)))
        return cn_set_error(CN_EINVAL, "predict: bad arguments (n = %lld)", (long long)n);
    const int64_t nb = pm->meta.bands, k = (int64_t)pm->meta.nclasses;
    for (int64_t done = 0; done < n; done += CN_PREDICT_BATCH) {
        int64_t rows = n - done < CN_PREDICT_BATCH ? n - done : CN_PREDICT_BATCH;
        int64_t dims[2] = {rows, nb};
        cn_status st = cn_tensor_resize(pm->batch, 2, dims); /* within its storage: no failure */
        if (st)
            return st;
        float *x = cn_tensor_data(pm->batch);
        const float *src = pixels + done * nb;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t b = 0; b < nb; b++)
                x[i * nb + b] = (src[i * nb + b] - pm->meta.mean[b]) * pm->meta.inv_std[b];
        cn_tensor *y;
        if ((st = cn_layer_forward(pm->net, pm->batch, &y)))
            return st;
        if (cn_tensor_ndim(y) != 2 || cn_tensor_dim(y, 0) != rows || cn_tensor_dim(y, 1) != k) {
            char s[96];
            return cn_set_error(CN_ESHAPE, "model: the network's output is %s for %lld pixels, "
                                "expected (%lld x %lld): one score per class",
                                cn_tensor_shape_str(y, s, sizeof s), (long long)rows,
                                (long long)rows, (long long)k);
        }
        cn_raster_meta_reduce(&pm->meta, cn_tensor_cdata(y), rows, labels + done, confidence ? confidence + done : NULL,
               probs ? probs + done * k : NULL);
    }
    return CN_OK;
}
