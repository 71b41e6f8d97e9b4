/*
 * model_meta.c — a raster model's metadata read once and checked like a file's contents (band
 * count, class table, normalisation, band names), and the soft-max reduction of class scores.
 * One place for what the per-pixel and the patch predictors both need, so the two refuse a bad
 * model in the same words and turn scores into labels the same way.
 */
#include "model_meta.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cn_status read_bands(cn_model *model, cn_raster_meta *m)
{
    const char *s = cn_model_get_meta(model, "bands");
    if (!s)
        return cn_set_error(CN_EFORMAT, "model: has no \"bands\" metadata: not a raster model "
                            "(train it with cropnet train, or set \"bands\" and \"classes\")");
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 1 || v > 1000000)
        return cn_set_error(CN_EFORMAT, "model: \"bands\" is '%s', not a band count", s);
    m->bands = (int)v;
    return CN_OK;
}

static cn_status read_classes(cn_model *model, cn_raster_meta *m)
{
    const char *s = cn_model_get_meta(model, "classes");
    if (!s)
        return cn_set_error(CN_EFORMAT, "model: has no \"classes\" metadata: not a raster model");
    cn_status st = cn_classes_from_json(s, &m->classes, &m->nclasses);
    if (st) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cn_last_error());
        return cn_set_error(st, "model: %s", msg);
    }
    for (size_t i = 0; i < m->nclasses; i++)
        if (m->classes[i].id > m->max_id)
            m->max_id = m->classes[i].id;
    return CN_OK;
}

/* norm.mean and norm.std: both or neither, each of length bands, finite. */
static cn_status read_norm(cn_model *model, cn_raster_meta *m)
{
    cn_tensor *mean = cn_model_get_tensor(model, "norm.mean");
    cn_tensor *std = cn_model_get_tensor(model, "norm.std");
    m->mean = malloc((size_t)m->bands * sizeof *m->mean);
    m->inv_std = malloc((size_t)m->bands * sizeof *m->inv_std);
    if (!m->mean || !m->inv_std)
        return cn_set_error(CN_ENOMEM, "model: out of memory");
    if (!mean != !std)
        return cn_set_error(CN_EFORMAT, "model: has \"norm.%s\" without \"norm.%s\"",
                            mean ? "mean" : "std", mean ? "std" : "mean");
    if (mean && (cn_tensor_numel(mean) != m->bands || cn_tensor_numel(std) != m->bands))
        return cn_set_error(CN_EFORMAT, "model: \"norm.mean\" has %lld values and \"norm.std\" "
                            "%lld, but \"bands\" is %d", (long long)cn_tensor_numel(mean),
                            (long long)cn_tensor_numel(std), m->bands);
    for (int b = 0; b < m->bands; b++) {
        float mu = mean ? cn_tensor_cdata(mean)[b] : 0.0f, s = std ? cn_tensor_cdata(std)[b] : 1.0f;
        if (!isfinite(mu) || !isfinite(s))
            return cn_set_error(CN_EFORMAT, "model: normalisation of band %d is not finite", b + 1);
        m->mean[b] = mu;
        m->inv_std[b] = s == 0.0f ? 1.0f : 1.0f / s;
    }
    return CN_OK;
}

static cn_status read_band_names(cn_model *model, cn_raster_meta *m)
{
    const char *s = cn_model_get_meta(model, "band_names");
    if (!s)
        return CN_OK;
    json_t *a = json_loads(s, 0, NULL);
    cn_status st = CN_OK;
    if (!json_is_array(a) || json_array_size(a) != (size_t)m->bands) {
        st = cn_set_error(CN_EFORMAT, "model: \"band_names\" must be a JSON array of %d strings",
                          m->bands);
    } else if (!(m->band_names = calloc((size_t)m->bands, sizeof *m->band_names))) {
        st = cn_set_error(CN_ENOMEM, "model: out of memory");
    } else {
        for (int b = 0; !st && b < m->bands; b++) {
            json_t *e = json_array_get(a, (size_t)b);
            if (!json_is_string(e))
                st = cn_set_error(CN_EFORMAT, "model: \"band_names\" entry %d is not a string",
                                  b + 1);
            else if (!(m->band_names[b] = strdup(json_string_value(e))))
                st = cn_set_error(CN_ENOMEM, "model: out of memory");
        }
    }
    json_decref(a);
    return st;
}

cn_status cn_raster_meta_read(cn_model *model, cn_raster_meta *m)
{
    memset(m, 0, sizeof *m);
    cn_status st;
    if ((st = read_bands(model, m)) || (st = read_classes(model, m)) ||
        (st = read_norm(model, m)) || (st = read_band_names(model, m)))
        cn_raster_meta_free(m);
    return st;
}

void cn_raster_meta_free(cn_raster_meta *m)
{
    for (int b = 0; m->band_names && b < m->bands; b++)
        free(m->band_names[b]);
    free(m->band_names);
    free(m->classes);
    free(m->mean);
    free(m->inv_std);
    memset(m, 0, sizeof *m);
}

const char *cn_raster_meta_band_name(const cn_raster_meta *m, int band)
{
    if (!m->band_names || band < 1 || band > m->bands)
        return NULL;
    return m->band_names[band - 1];
}

void cn_raster_meta_reduce(const cn_raster_meta *m, const float *scores, int64_t n,
                           int32_t *labels, float *confidence, float *probs)
{
    const int64_t k = (int64_t)m->nclasses;
    for (int64_t i = 0; i < n; i++) {
        const float *s = scores + i * k;
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (s[j] > s[best])
                best = j;
        float top = s[best], sum = 0.0f;
        for (int64_t j = 0; j < k; j++)
            sum += expf(s[j] - top);
        labels[i] = m->classes[best].id;
        if (confidence)
            confidence[i] = 1.0f / sum;
        if (probs)
            for (int64_t j = 0; j < k; j++)
                probs[i * k + j] = expf(s[j] - top) / sum;
    }
}
