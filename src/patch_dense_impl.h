/*
 * patch_dense_impl.h — the state of the shared patch convolutions (patch_dense.h), shared by
 * patch_dense_plan.c (which layers, their geometry) and patch_dense_run.c (the blocks' dense
 * maps and the batches' assembled maps). Not part of the public API.
 *
 * Geometry, per axis, for a stack of convolutions with kernel k, dilation d and padding p over a
 * P-wide patch: layer L's map is S_L = S_{L−1} + 2p − d(k − 1) wide; its clean outputs are
 * [lo_L, hi_L) with lo_L = lo_{L−1} + p and hi_L = hi_{L−1} + p − d(k − 1) (S_0 = P, all clean);
 * a clean output i of the patch whose top-left corner is base pixel b equals the dense map
 * D_L[b + i − shift_L], shift_L being the sum of the paddings so far, where D_L is the stack run
 * without padding over the base (D_L[q] covers base pixels q .. q + Σ d(k − 1)).
 */
#ifndef CROPNET_PATCH_DENSE_IMPL_H
#define CROPNET_PATCH_DENSE_IMPL_H

#include "parallel.h"
#include "patch_dense.h"

typedef struct dense_stage {
    cn_layer *conv;                /* one reference */
    int64_t c, o, k[2], d[2], p[2], taps;
    float *wp;                     /* the weights packed for the direct kernel (owned) */
    const float *bias;             /* borrowed from conv, or NULL */
    cn_layer **post;               /* the element-wise layers after it (references) */
    size_t npost;
    int64_t in[2], side[2];        /* its input and output map sizes in a patch (rows, columns) */
    int64_t lo[2], hi[2];          /* the clean outputs: [lo, hi) per axis */
    int64_t shift[2];              /* the paddings summed up to this layer */
    int64_t *toff_patch;           /* tap offsets in a padded patch map */
    int64_t *toff_block;           /* tap offsets in the block's input map (set per block) */
    int64_t nborder;               /* border outputs per patch */
    int64_t *border_in;            /* their window origins in the padded input map */
    int64_t *border_out;           /* their places in the output map */
    cn_tensor *dpre;               /* 1 × o × H × W: the block's dense map, as the convolution
                                    * gives it (the patches' clean outputs are copied from it) */
    cn_tensor *dmap;               /* the same after the post layers (the next stage's input) */
    cn_tensor *y;                  /* N × o × side: the batch's maps, before the post layers */
} dense_stage;

/* One thread's scratch. */
typedef struct dense_part {
    const float **origins;
    float **dst;
    int64_t cap;                   /* positions origins and dst hold (CN_DIRECT_TILE more) */
    float *pad;
    int64_t pad_cap;
} dense_part;

struct cn_patch_dense {
    int64_t channels;
    size_t count;
    dense_stage *stages;
    dense_part parts[CN_PARALLEL_MAX_PARTS];
    int first_row, first_col;      /* the current block's first base row and column */
};

/* "predict: out of memory" (CN_ENOMEM). */
cn_status cn_patch_dense_oom(void);

#endif
