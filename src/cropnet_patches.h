/*
 * cropnet_patches.h — patch models: networks that classify a pixel from the P × P neighbourhood
 * centred on it, over every band (public; included by cropnet.h).
 *
 *  - patches read from a raster, N × C × P × P float32 (bands as channels, as convolutions take
 *    them), centred on given pixels and reflect-padded at the scene edge, in windows of bounded
 *    size;
 *  - per-band statistics of the centre pixels and per-band standardisation of patch tensors;
 *  - augmentation of a batch of patches by the flips and 90° rotations of the square (a
 *    cn_batch_fn for cn_train);
 *  - the receptive field of a network;
 *  - cn_patch_model, the patch counterpart of cn_pixel_model: a model's raster metadata read once
 *    and windows of a scene classified patch by patch in fixed-size batches. cn_classify uses it
 *    for models whose "input" is "patch", reading each tile with a halo of P / 2 pixels.
 *
 * Invalid pixels: a neighbour that is invalid in the image (nodata, NaN, Inf — cn_raster_read)
 * enters a patch as NaN, and standardisation puts it at the band mean (0), in training and in
 * classification alike. A patch is only ever centred on a valid pixel.
 *
 * Patch model metadata (besides "bands", "classes", "norm.mean"/"norm.std" as for pixel models):
 * "input" = "patch", "patch" = P (odd, 1..255) and "receptive_field" = R with 1 <= R <= P.
 */
#ifndef CROPNET_PATCHES_H
#define CROPNET_PATCHES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN_PATCH_MAX 255 /* largest patch side */

/* ---------------------------------------------------------------- reading patches */

/* Reads the n patches of side patch (odd, 1..CN_PATCH_MAX) centred on (rows[i], cols[i]) into
 * out, resized to n × bands × patch × patch: out[i][b][dy][dx] is band b of the pixel at
 * (rows[i] + dy − patch/2, cols[i] + dx − patch/2), reflected at the edges as
 * cn_raster_read_reflect does; invalid pixels read as NaN. The positions may come in any order
 * and repeat. The raster is read in square windows, each with its halo, holding at most about
 * 64 MiB of pixels (or one pixel and its halo when that is more), and only where there are
 * positions. Errors: CN_EINVAL (patch size, a position outside the raster), CN_EOVERFLOW,
 * CN_ENOMEM, CN_EIO. */
cn_status cn_patches_read(cn_raster *r, const int32_t *rows, const int32_t *cols, int64_t n,
                          int patch, cn_tensor *out);

/* cn_samples_from_rasters with patches: out->x is N × bands × patch × patch (patches centred on
 * the labelled pixels, in the same order as out->rows, out->cols, out->y). Errors: those of
 * cn_samples_from_rasters and cn_patches_read. On error out is zeroed. */
cn_status cn_patch_samples_from_rasters(const char *image_path, const char *labels_path,
                                        int patch, cn_samples *out);

/* ---------------------------------------------------------------- normalisation */

/* Per-band mean and population standard deviation of the centre pixels of x (N × C × P × P with
 * P odd, N >= 1): the same figures as cn_band_stats over the N × C matrix of those pixels (a
 * standard deviation of 0 is stored as 1). mean and std are resized to C. Errors: CN_EINVAL,
 * CN_ENOMEM. */
cn_status cn_patch_band_stats(const cn_tensor *x, cn_tensor *mean, cn_tensor *std);

/* Standardises x (N × C × anything) per channel in place: x ← (x − mean[c]) / std[c], a std of
 * 0 counting as 1, and NaN (an invalid pixel) ← 0. Errors: CN_ESHAPE (mean or std not of
 * length C, x of fewer than 2 dimensions). */
cn_status cn_patches_standardize(cn_tensor *x, const cn_tensor *mean, const cn_tensor *std);

/* ---------------------------------------------------------------- augmentation */

/* Transforms each sample of x (N × … × S × S: the last two dimensions square) in place by one of
 * the eight symmetries of the square (identity, rotations by 90°, 180°, 270°, and the four
 * reflections), drawn uniformly from rng for each sample. Errors: CN_ESHAPE (fewer than 3
 * dimensions, or not square), CN_ENOMEM. */
cn_status cn_patches_augment(cn_tensor *x, cn_rng *rng);

/* cn_patches_augment as a cn_batch_fn (cn_train_config.augment): user_data is unused. */
cn_status cn_patches_augment_batch(cn_tensor *x, cn_tensor *y, int epoch, int64_t batch,
                                   cn_rng *rng, void *user_data);

/* ---------------------------------------------------------------- receptive field */

/* The side of the square of input pixels that one output of net depends on, for an input patch
 * of side patch: each convolution adds D·(k − 1) times the product of the strides before it, each
 * pooling window (k − 1) times that product, and a layer that mixes all positions (global
 * pooling, flatten, view, linear) makes it the whole patch; the result is at most patch.
 * Residual blocks count their larger branch. Errors: CN_EINVAL (patch < 1). */
cn_status cn_net_receptive_field(cn_layer *net, int patch, int *rf);

/* ---------------------------------------------------------------- patch models */

typedef struct cn_patch_model cn_patch_model;

/* Patches per forward pass: the predictor's input buffer holds CN_PATCH_BATCH × bands × P × P
 * floats, and each layer's buffers CN_PATCH_BATCH samples of its output (8.5 MiB of input for
 * 204 bands and 9 × 9 patches). */
#define CN_PATCH_BATCH 128

/* Reads meta "bands", "classes", "input" (must be "patch"), "patch" (odd, 1..CN_PATCH_MAX),
 * "receptive_field" (1..patch), optional "band_names", tensors "norm.mean" and "norm.std" (both
 * or neither, length bands), and checks that the network maps a 1 × bands × P × P input to one
 * score per class. Refused with a message naming what is missing or which sizes differ
 * (CN_EFORMAT); a model whose input is not "patch" is CN_EINVAL. The predictor keeps a reference
 * to the network (the model may be freed after open) and runs it in evaluation mode, using the
 * layers' own buffers: one predictor per network and thread. It may keep a copy of some weights
 * (packed for its kernels): a network changed after open is not seen whole; open another
 * predictor. Errors: CN_EFORMAT, CN_EINVAL, CN_ENOMEM. */
cn_status cn_patch_model_open(cn_model *model, cn_patch_model **out);
void cn_patch_model_close(cn_patch_model *pm); /* NULL is a no-op */

int cn_patch_model_bands(const cn_patch_model *pm);
int cn_patch_model_patch(const cn_patch_model *pm);           /* P */
int cn_patch_model_receptive_field(const cn_patch_model *pm); /* R */
const cn_class_info *cn_patch_model_classes(const cn_patch_model *pm, size_t *count);
int cn_patch_model_max_id(const cn_patch_model *pm);
const char *cn_patch_model_band_name(const cn_patch_model *pm, int band); /* NULL when none */

/* Classifies the w × h pixels of a window given with a halo of P/2 pixels on every side:
 * pixels holds (w + P − 1) × (h + P − 1) pixels × bands, pixel-interleaved row by row (as
 * cn_raster_read_reflect gives them), valid the same pixels' validity (1 valid). pixels is
 * standardised in place (each pixel once; invalid ones set to the band mean, 0) and is scratch
 * afterwards. For each inner pixel whose own validity is 1 the patch around it is cut out, run
 * through the network in batches of CN_PATCH_BATCH and soft-maxed: labels[i] =
 * class id of the most probable class (ties: the first), confidence[i] = its probability,
 * probs[i·K + k] = probability of class k (network output order), i = row·w + col. Invalid
 * pixels get label 0, confidence 0 and probabilities −1. confidence and probs may be NULL. A
 * pixel's result depends only on its patch, not on the window it comes in. Errors: CN_EINVAL,
 * CN_ESHAPE (the network's output does not fit), CN_ENOMEM. */
cn_status cn_patch_model_predict(cn_patch_model *pm, float *pixels, const uint8_t *valid, int w,
                                 int h, int32_t *labels, float *confidence, float *probs);

#endif
