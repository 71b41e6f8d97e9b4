/*
 * cropnet_layers.h — the convolutional-network layers (public; included by cropnet.h).
 *
 *  - convolution over 2 (CN_LAYER_CONV2D) or 3 (CN_LAYER_CONV3D) spatial dimensions, with kernel
 *    size, stride, padding and dilation: direct AVX-512 kernels where the CPU has them, else
 *    im2col + GEMM, in cache-sized chunks over threads; a GEMM over channels for 1×1;
 *  - max and average pooling (2-D), global average pooling;
 *  - flatten and view (reshape of each sample);
 *  - dropout (inverted: scaled by 1/(1−p) while training, the identity in evaluation);
 *  - batch normalisation of N×C and N×C×(spatial) inputs, with running statistics;
 *  - a residual block y = inner(x) + shortcut(x), the shortcut being the identity or a projection.
 *
 * Layout: a batch of images is N×C×H×W (N×C×D×H×W for 3-D convolution, D being the spectral
 * axis of a hyperspectral cube), row-major, as in Torch and PyTorch. Every layer here takes
 * batched input only (the first dimension is N, possibly 1).
 *
 * Output sizes: along each spatial axis, out = (in − F + 2P) / S + 1 with the effective kernel
 * F = D·(k − 1) + 1 for dilation D. A stride that does not fit — (in − F + 2P) not divisible by S
 * — is refused (CN_ESHAPE, the message giving the formula's numbers), unless the layer was made
 * with floor = true, which drops the windows that would hang over the far edge as Torch and
 * PyTorch always do (a 2×2 max-pool over 9×9 gives 4×4). An output smaller than 1 is refused
 * with Torch's message: "Given input size: (3 x 32 x 32). Calculated output size: (64 x 0 x 0).
 * Output size is too small".
 *
 * Modes: every layer has a training flag (cn_layer_set_training, recursive). New layers start in
 * training mode (Torch's default); cn_train trains in training mode and leaves the net in
 * evaluation mode (also while its epoch callback runs); cn_model_load returns nets in evaluation
 * mode. Only dropout and batch normalisation behave differently in the two modes.
 *
 * Backward contract: backward follows the forward of the same input. Convolutions unfold the
 * input given to backward again (in cache, cheaper than keeping the forward's); pooling, dropout
 * and batch normalisation use what their forward kept (max positions, the mask, the normalised
 * values). An input whose shape does not fit the gradient is refused.
 */
#ifndef CROPNET_LAYERS_H
#define CROPNET_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- modes */

/* Sets the training flag of layer and of every layer inside it. */
void cn_layer_set_training(cn_layer *layer, bool training);
bool cn_layer_is_training(const cn_layer *layer);

/* The child layers of a container (sequential: its children; residual: inner, then the
 * projection if any), borrowed; returns the count and fills up to cap entries of out (NULL
 * allowed with cap 0). Leaves have none. */
size_t cn_layer_children(cn_layer *layer, cn_layer **out, size_t cap);

/* ---------------------------------------------------------------- convolution */

#define CN_CONV_MAX_SPATIAL 3

/* A convolution: sizes along the spatial axes in input order ((H, W) for 2-D, (D, H, W) for
 * 3-D); only the first `dims` entries of each array are used. */
typedef struct cn_conv_spec {
    int dims;                              /* spatial dimensions: 2 or 3 */
    int64_t in, out;                       /* input and output channels, >= 1 */
    int64_t kernel[CN_CONV_MAX_SPATIAL];   /* >= 1 */
    int64_t stride[CN_CONV_MAX_SPATIAL];   /* >= 1 */
    int64_t padding[CN_CONV_MAX_SPATIAL];  /* >= 0, zeros on both sides */
    int64_t dilation[CN_CONV_MAX_SPATIAL]; /* >= 1 */
    bool bias;                             /* add a learned bias per output channel */
    bool floor;                            /* floor the output size instead of refusing */
} cn_conv_spec;

/* Fills spec with a square/cubic kernel of size k, stride 1, no padding, dilation 1, bias on,
 * floor off. */
void cn_conv_spec_default(cn_conv_spec *spec, int dims, int64_t in, int64_t out, int64_t k);

/* A convolution layer (CN_LAYER_CONV2D or CN_LAYER_CONV3D by spec->dims). Its weight is
 * out × in × k... (PyTorch's order), its bias out; both start at zero: call cn_layer_init (fan-in
 * in·Πk, fan-out out·Πk). Errors: CN_EINVAL naming the bad field, CN_ENOMEM. */
cn_status cn_conv_new(const cn_conv_spec *spec, cn_layer **layer);

/* The spec of a convolution layer; false (spec untouched) for other kinds. */
bool cn_conv_get_spec(const cn_layer *layer, cn_conv_spec *spec);
/* Whether layer is a convolution of kernel 1, stride 1 and no padding on every axis (a mixing of
 * channels at each position, run as a GEMM). */
bool cn_conv_is_pointwise(const cn_layer *layer);

/* ---------------------------------------------------------------- pooling */

/* A 2-D pooling window over (H, W). Stride 0 means "equal to the kernel" (Torch's default).
 * Average pooling divides by the full window, padding included (Torch's count_include_pad);
 * max pooling never picks a padded position. */
typedef struct cn_pool_spec {
    int64_t kernel[2];  /* >= 1 */
    int64_t stride[2];  /* >= 1, or 0 for the kernel size */
    int64_t padding[2]; /* >= 0 and at most half the kernel */
    bool floor;         /* floor the output size instead of refusing */
} cn_pool_spec;

/* kind is CN_LAYER_MAX_POOL2D or CN_LAYER_AVG_POOL2D. Input N×C×H×W. Errors: CN_EINVAL. */
cn_status cn_pool_new(cn_layer_kind kind, const cn_pool_spec *spec, cn_layer **layer);
bool cn_pool_get_spec(const cn_layer *layer, cn_pool_spec *spec); /* strides resolved */

/* Global average pooling: N×C×(spatial…) → N×C, the mean over all spatial positions. */
cn_status cn_global_avg_pool_new(cn_layer **layer);

/* ---------------------------------------------------------------- reshaping */

/* Flatten: N×(anything) → N×(product of the rest). */
cn_status cn_flatten_new(cn_layer **layer);

/* View: each sample reshaped to the ndim (1..CN_MAX_DIMS−1) sizes in dims, one of which may be
 * −1 (inferred); the batch dimension is kept. E.g. {−1, 9, 9} folds a 3-D feature map
 * N×C×D×9×9 into N×(C·D)×9×9. Errors: CN_EINVAL. */
cn_status cn_view_new(int ndim, const int64_t *dims, cn_layer **layer);
/* The view's sizes (up to CN_MAX_DIMS − 1 written to dims); returns ndim, 0 for other kinds. */
int cn_view_get_shape(const cn_layer *layer, int64_t *dims);

/* ---------------------------------------------------------------- dropout */

/* Inverted dropout with drop probability p in [0, 1): in training mode each value is zeroed with
 * probability p and the others scaled by 1/(1−p); in evaluation mode the identity. The mask comes
 * from the layer's own generator, seeded here and again by cn_layer_init (from its rng), so a
 * seed fixes the masks. cn_layer_param gives p. Errors: CN_EINVAL. */
cn_status cn_dropout_new(float p, uint64_t seed, cn_layer **layer);
void cn_dropout_seed(cn_layer *layer, uint64_t seed);

/* ---------------------------------------------------------------- batch normalisation */

/* Batch normalisation over channel dimension 1 of N×C or N×C×(spatial…) input: y = γ·x̂ + β with
 * x̂ = (x − μ)/√(σ² + eps). Training mode uses the batch's μ, σ² (biased) and updates the running
 * statistics r ← (1 − momentum)·r + momentum·batch (the running variance takes the unbiased batch
 * variance, as PyTorch); evaluation mode uses the running statistics. Parameters γ (weight,
 * init 1) and β (bias, init 0); buffers running_mean (init 0) and running_var (init 1).
 * Training needs more than one value per channel. Errors: CN_EINVAL, CN_ENOMEM. */
cn_status cn_batchnorm_new(int64_t features, float eps, float momentum, cn_layer **layer);
/* Features, eps and momentum; false for other kinds. */
bool cn_batchnorm_get(const cn_layer *layer, int64_t *features, float *eps, float *momentum);
/* The running statistics (borrowed, length features; writable, e.g. by a loader); NULL for
 * other kinds. */
cn_tensor *cn_batchnorm_running_mean(cn_layer *layer);
cn_tensor *cn_batchnorm_running_var(cn_layer *layer);

/* ---------------------------------------------------------------- residual block */

/* y = inner(x) + shortcut(x), the shortcut being x itself (projection NULL) or projection(x),
 * typically a 1×1 convolution (with a stride when inner downsamples). New references are taken
 * to inner and projection. The two branch outputs must have the same shape (CN_ESHAPE names both
 * otherwise). Errors: CN_EINVAL (NULL inner, inner == projection, or a layer inside the other). */
cn_status cn_residual_new(cn_layer *inner, cn_layer *projection, cn_layer **layer);
cn_layer *cn_residual_inner(cn_layer *layer);      /* borrowed; NULL for other kinds */
cn_layer *cn_residual_projection(cn_layer *layer); /* borrowed; NULL when identity */

#endif
