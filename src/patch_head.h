/*
 * patch_head.h — a patch network split into its per-pixel head and the rest (internal).
 *
 * Patch networks usually open with per-pixel layers: the 1×1 convolution that mixes the bands
 * (stride 1, no padding), then element-wise activations, batch normalisation or dropout (all of
 * them per channel in evaluation mode). Inside a patch they run at every position, so over a
 * scene each pixel goes through them P² times, once per patch that holds it. The patch predictor
 * runs them once per pixel of its window instead, before cutting the patches: the same values for
 * a P²-th of the work, and patches of the head's channels (32 for the benchmark network) to cut
 * instead of the bands (204).
 */
#ifndef CROPNET_PATCH_HEAD_H
#define CROPNET_PATCH_HEAD_H

#include "cropnet.h"

/* Pixels per run of the head. Every run is this many pixels (the last padded with zeros), so the
 * matrix products have one shape and a pixel's result does not depend on where it falls. */
#define CN_HEAD_CHUNK 512

typedef struct cn_patch_head cn_patch_head;

/* Splits net, a patch network in evaluation mode taking `bands` channels, at the end of its
 * leading per-pixel layers. When it has some (net is a sequential opening with them, followed by
 * at least one other layer) and they do not widen the pixel (their output channels <= bands: the
 * predictor transforms its window in place), *head runs them and *tail is a new sequential of the
 * remaining layers (sharing them with net); otherwise *head is NULL and *tail is net. *tail is a
 * new reference either way; *channels is what the tail takes per pixel. Errors: CN_ENOMEM. */
cn_status cn_patch_head_split(cn_layer *net, int64_t bands, cn_patch_head **head,
                              cn_layer **tail, int64_t *channels);

/* Runs the head over n <= CN_HEAD_CHUNK pixels (n × bands floats, pixel-interleaved); *out is
 * set to n × channels floats, pixel-interleaved, owned by the head and valid until its next run.
 * Errors: CN_EINVAL (n out of range), and those of the layers' forward passes. */
cn_status cn_patch_head_run(cn_patch_head *head, const float *pixels, int64_t n,
                            const float **out);

void cn_patch_head_free(cn_patch_head *head); /* NULL is a no-op */

/* Whether layer works on each value, or each channel, alone in evaluation mode: an activation,
 * or batch normalisation or dropout not in training mode. */
bool cn_layer_is_elementwise(const cn_layer *layer);

#endif
