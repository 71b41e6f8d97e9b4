/*
 * model_meta.h — what every raster model stores besides its network, read and checked once:
 * band count, class table, normalisation, band names; and the soft-max reduction of class scores
 * to ids, confidences and probabilities. Shared by the per-pixel predictor (predict.c) and the
 * patch predictor (patch_predict.c). Not part of the public API.
 */
#ifndef CROPNET_MODEL_META_H
#define CROPNET_MODEL_META_H

#include "cropnet.h"

typedef struct cn_raster_meta {
    int bands;              /* input bands */
    cn_class_info *classes; /* K entries, network output order (owned) */
    size_t nclasses;        /* K */
    int max_id;             /* largest class id */
    float *mean, *inv_std;  /* bands entries each (owned): x' = (x - mean) · inv_std */
    char **band_names;      /* bands entries or NULL (owned) */
} cn_raster_meta;

/* Reads meta "bands", "classes", optional "band_names" and tensors "norm.mean"/"norm.std" (both
 * or neither, length bands, finite; absent = no normalisation) of model into m. Messages start
 * with "model: ". On error m is freed. Errors: CN_EFORMAT, CN_ENOMEM. */
cn_status cn_raster_meta_read(cn_model *model, cn_raster_meta *m);
void cn_raster_meta_free(cn_raster_meta *m); /* idempotent; zeroes m */

/* The class name of band b (1-based) or NULL. */
const char *cn_raster_meta_band_name(const cn_raster_meta *m, int band);

/* Soft-max of each row of scores (n × K) → labels[i] = id of the top class (ties: the first),
 * confidence[i] = its probability, probs[i·K + k] (confidence and probs may be NULL). */
void cn_raster_meta_reduce(const cn_raster_meta *m, const float *scores, int64_t n,
                           int32_t *labels, float *confidence, float *probs);

#endif
