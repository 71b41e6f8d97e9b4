/*
 * predict.c — per-pixel prediction with a model: its raster metadata read once (bands, classes,
 * normalisation), then any number of pixels normalised, run through the network in batches of
 * CN_PREDICT_BATCH, soft-maxed and reduced to class ids, confidences and probabilities.
 *
 * The batch buffer is the predictor's own and the network's layers keep their forward buffers,
 * so memory is fixed by the batch size and the layer widths whatever n is. The metadata comes
 * from a file and is checked like one: sizes against each other and against the network.
 */
#include "raster_impl.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cn_pixel_model {
    cn_model *model;        /* borrowed, during open only */
    cn_layer *net;          /* one reference: the predictor outlives the model if need be */
    int bands;              /* input features */
    cn_class_info *classes; /* K entries, network output order (owned) */
    size_t nclasses;        /* K */
    int max_id;             /* largest class id */
    float *mean, *inv_std;  /* bands entries each (owned): x' = (x - mean) · inv_std */
    char **band_names;      /* bands entries or NULL (owned) */
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

static cn_status read_bands(cn_pixel_model *pm)
{
    const char *s = cn_model_get_meta(pm->model, "bands");
    if (!s)
        return cn_set_error(CN_EFORMAT, "model: has no \"bands\" metadata: not a raster model "
                            "(train it with cropnet train, or set \"bands\" and \"classes\")");
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 1 || v > 1000000)
        return cn_set_error(CN_EFORMAT, "model: \"bands\" is '%s', not a band count", s);
    pm->bands = (int)v;
    return CN_OK;
}

static cn_status read_kind(cn_pixel_model *pm)
{
    const char *input = cn_model_get_meta(pm->model, "input");
    const char *rf = cn_model_get_meta(pm->model, "receptive_field");
    if (input && strcmp(input, "pixel") != 0)
        return cn_set_error(CN_EINVAL, "model: is a %s model (\"input\" is \"%s\"); only per-pixel "
                            "models are supported here (patch models need patch support)", input,
                            input);
    if (rf && strcmp(rf, "1") != 0)
        return cn_set_error(CN_EINVAL, "model: has a receptive field of %s pixels; only per-pixel "
                            "models (receptive field 1) are supported here", rf);
    return CN_OK;
}

static cn_status read_classes(cn_pixel_model *pm)
{
    const char *s = cn_model_get_meta(pm->model, "classes");
    if (!s)
        return cn_set_error(CN_EFORMAT, "model: has no \"classes\" metadata: not a raster model");
    cn_status st = cn_classes_from_json(s, &pm->classes, &pm->nclasses);
    if (st)
        return cn_error_prefix(st, "model", NULL);
    for (size_t i = 0; i < pm->nclasses; i++)
        if (pm->classes[i].id > pm->max_id)
            pm->max_id = pm->classes[i].id;
    return CN_OK;
}

/* norm.mean and norm.std: both or neither, each of length bands, finite. */
static cn_status read_norm(cn_pixel_model *pm)
{
    cn_tensor *mean = cn_model_get_tensor(pm->model, "norm.mean");
    cn_tensor *std = cn_model_get_tensor(pm->model, "norm.std");
    pm->mean = malloc((size_t)pm->bands * sizeof *pm->mean);
    pm->inv_std = malloc((size_t)pm->bands * sizeof *pm->inv_std);
    if (!pm->mean || !pm->inv_std)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    if (!mean != !std)
        return cn_set_error(CN_EFORMAT, "model: has \"norm.%s\" without \"norm.%s\"",
                            mean ? "mean" : "std", mean ? "std" : "mean");
    if (mean && (cn_tensor_numel(mean) != pm->bands || cn_tensor_numel(std) != pm->bands))
        return cn_set_error(CN_EFORMAT, "model: \"norm.mean\" has %lld values and \"norm.std\" "
                            "%lld, but \"bands\" is %d", (long long)cn_tensor_numel(mean),
                            (long long)cn_tensor_numel(std), pm->bands);
    for (int b = 0; b < pm->bands; b++) {
        float m = mean ? cn_tensor_cdata(mean)[b] : 0.0f, s = std ? cn_tensor_cdata(std)[b] : 1.0f;
        if (!isfinite(m) || !isfinite(s))
            return cn_set_error(CN_EFORMAT, "model: normalisation of band %d is not finite", b + 1);
        pm->mean[b] = m;
        pm->inv_std[b] = s == 0.0f ? 1.0f : 1.0f / s;
    }
    return CN_OK;
}

static cn_status read_band_names(cn_pixel_model *pm)
{
    const char *s = cn_model_get_meta(pm->model, "band_names");
    if (!s)
        return CN_OK;
    json_t *a = json_loads(s, 0, NULL);
    cn_status st = CN_OK;
    if (!json_is_array(a) || json_array_size(a) != (size_t)pm->bands) {
        st = cn_set_error(CN_EFORMAT, "model: \"band_names\" must be a JSON array of %d strings",
                          pm->bands);
    } else if (!(pm->band_names = calloc((size_t)pm->bands, sizeof *pm->band_names))) {
        st = cn_set_error(CN_ENOMEM, "model: out of memory");
    } else {
        for (int b = 0; !st && b < pm->bands; b++) {
            json_t *e = json_array_get(a, (size_t)b);
            if (!json_is_string(e))
                st = cn_set_error(CN_EFORMAT, "model: \"band_names\" entry %d is not a string",
                                  b + 1);
            else if (!(pm->band_names[b] = strdup(json_string_value(e))))
                st = cn_set_error(CN_ENOMEM, "model: out of memory");
        }
    }
    json_decref(a);
    return st;
}

cn_status cn_pixel_model_open(cn_model *model, cn_pixel_model **out)
{
    if (!model || !out)
        return cn_set_error(CN_EINVAL, "model: NULL argument");
    *out = NULL;
    cn_pixel_model *pm = calloc(1, sizeof *pm);
    if (!pm)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    pm->model = model;
    pm->net = cn_layer_retain(cn_model_net(model));
    cn_status st;
    if ((st = read_kind(pm)) || (st = read_bands(pm)) || (st = read_classes(pm)) ||
        (st = read_norm(pm)) || (st = read_band_names(pm)))
        goto fail;
    int64_t in = net_in(pm->net), outw = net_out(pm->net);
    if (in && in != pm->bands) {
        st = cn_set_error(CN_EFORMAT, "model: the network takes %lld inputs, but \"bands\" is %d",
                          (long long)in, pm->bands);
        goto fail;
    }
    if (outw && outw != (int64_t)pm->nclasses) {
        st = cn_set_error(CN_EFORMAT, "model: the network has %lld outputs, but \"classes\" lists "
                          "%zu", (long long)outw, pm->nclasses);
        goto fail;
    }
    if ((st = cn_tensor_new2(CN_PREDICT_BATCH, pm->bands, &pm->batch)))
        goto fail;
    pm->model = NULL;
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
    for (int b = 0; pm->band_names && b < pm->bands; b++)
        free(pm->band_names[b]);
    free(pm->band_names);
    free(pm->classes);
    free(pm->mean);
    free(pm->inv_std);
    cn_tensor_release(pm->batch);
    cn_layer_release(pm->net);
    free(pm);
}

int cn_pixel_model_bands(const cn_pixel_model *pm) { return pm->bands; }
int cn_pixel_model_max_id(const cn_pixel_model *pm) { return pm->max_id; }

const cn_class_info *cn_pixel_model_classes(const cn_pixel_model *pm, size_t *count)
{
    if (count)
        *count = pm->nclasses;
    return pm->classes;
}

const char *cn_pixel_model_band_name(const cn_pixel_model *pm, int band)
{
    if (!pm->band_names || band < 1 || band > pm->bands)
        return NULL;
    return pm->band_names[band - 1];
}

/* Softmax of each row of scores (n × k) → ids, confidences, probabilities. */
static void reduce(const cn_pixel_model *pm, const float *scores, int64_t n, int32_t *labels,
                   float *confidence, float *probs)
{
    const int64_t k = (int64_t)pm->nclasses;
    for (int64_t i = 0; i < n; i++) {
        const float *s = scores + i * k;
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (s[j] > s[best])
                best = j;
        float top = s[best], sum = 0.0f;
        for (int64_t j = 0; j < k; j++)
            sum += expf(s[j] - top);
        labels[i] = pm->classes[best].id;
        if (confidence)
            confidence[i] = 1.0f / sum;
        if (probs)
            for (int64_t j = 0; j < k; j++)
                probs[i * k + j] = expf(s[j] - top) / sum;
    }
}

cn_status cn_pixel_model_predict(cn_pixel_model *pm, const float *pixels, int64_t n,
                                 int32_t *labels, float *confidence, float *probs)
{
    if (n < 0 || (n > 0 && (!pixels || !labels)))
        return cn_set_error(CN_EINVAL, "predict: bad arguments (n = %lld)", (long long)n);
    const int64_t nb = pm->bands, k = (int64_t)pm->nclasses;
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
                x[i * nb + b] = (src[i * nb + b] - pm->mean[b]) * pm->inv_std[b];
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
        reduce(pm, cn_tensor_cdata(y), rows, labels + done, confidence ? confidence + done : NULL,
               probs ? probs + done * k : NULL);
    }
    return CN_OK;
}
