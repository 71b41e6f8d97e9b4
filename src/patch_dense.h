/*
 * patch_dense.h — a patch network's leading stride-1 convolutions evaluated once over the scene
 * for the positions patches share, and per patch only where a patch differs (internal).
 *
 * Neighbouring pixels' patches overlap almost entirely. Inside a patch, a stride-1 convolution's
 * output at a position whose window lies wholly inside the patch — and, for a later layer, whose
 * inputs are all such positions — is the same number in every patch that holds it: it is the
 * convolution of the scene itself at that place ("clean"). Only the positions whose windows
 * reach the patch's zero padding, or depend on positions that did, are particular to the patch
 * ("border"). So the stack of stride-1 convolutions (with the element-wise layers between them)
 * is run once over blocks of the window, without padding — the dense maps — and each patch's
 * feature maps are assembled from the dense maps at its clean positions and from the direct
 * kernel run at its border positions only. For the benchmark network (11 × 11 patches, a 3 × 3
 * convolution padded by 1, then an unpadded 3 × 3) that is 72 positions per patch instead of 202.
 *
 * Both kinds of position are computed by the same direct kernel (cn_conv_direct_points), each
 * output one FMA chain over its own window in a fixed order: the assembled maps are, bit for
 * bit, what the layers give on the patch itself. Used only where the direct kernel runs (AVX-512).
 */
#ifndef CROPNET_PATCH_DENSE_H
#define CROPNET_PATCH_DENSE_H

#include "cropnet.h"

typedef struct cn_patch_dense cn_patch_dense;

/* Plans the shared evaluation for net, a sequential in evaluation mode taking channels × patch ×
 * patch inputs. When net opens with 2-D stride-1 convolutions (the direct kernel's size, and
 * element-wise layers between and after them), *dense evaluates them and *rest is a new
 * sequential of the layers after them; otherwise (or where the direct kernel does not run)
 * *dense is NULL and *rest is net. *rest is a new reference either way. Errors: CN_ENOMEM. */
cn_status cn_patch_dense_plan(cn_layer *net, int64_t channels, int patch, cn_patch_dense **dense,
                              cn_layer **rest);

/* Computes the dense maps of a block of the window: base is the window as channel rows (row r,
 * channel c, column x at base[(r · channels + c) · ww + x]), ww wide; the block is base rows
 * first_row .. first_row + rows − 1 and columns first_col .. first_col + cols − 1 (rows and cols
 * >= patch), for the patches whose top-left corners lie in its first rows − patch + 1 rows and
 * cols − patch + 1 columns. Memory: two maps per convolution of its output channels over the
 * block. Errors: CN_EINVAL (a block smaller than the patch), CN_ENOMEM, and the element-wise
 * layers'. */
cn_status cn_patch_dense_block(cn_patch_dense *dense, const float *base, int ww, int first_row,
                               int rows, int first_col, int cols);

/* Runs the stack on the first n entries of batch (N × channels × patch × patch patches, cut from
 * the current block's base): entry i's top-left corner is base row ys[i] and column xs[i]
 * (window coordinates, inside the block). *out (borrowed, valid until the next call) is the stack's
 * output for the N entries; entries from n on are unspecified. Errors: CN_ENOMEM, and the
 * element-wise layers'. */
cn_status cn_patch_dense_batch(cn_patch_dense *dense, const cn_tensor *batch, int64_t n,
                               const int *ys, const int *xs, cn_tensor **out);

void cn_patch_dense_free(cn_patch_dense *dense); /* NULL is a no-op */

/* Tests: true plans no shared evaluation (every patch runs the layers whole). */
void cn_patch_dense_disable(bool on);

#endif
