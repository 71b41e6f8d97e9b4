/*
 * conv_impl.h — the state of a convolution layer, shared by conv.c (the layer) and
 * conv_chunks.c (running it over the batch in chunks and threads). Not part of the public API.
 */
#ifndef CROPNET_CONV_IMPL_H
#define CROPNET_CONV_IMPL_H

#include "im2col.h"
#include "layer_impl.h"

/* The scratch of one part (thread) of a chunked run; buffers grow, never shrink. */
typedef struct conv_part {
    float *col;              /* rows × chunk·P: a chunk's unfolded input */
    float *dcol;             /* rows × chunk·P: Wᵀ·dY before folding */
    float *prod;             /* out × chunk·P: the GEMM product, or dY regrouped */
    size_t col_cap, dcol_cap, prod_cap;
    float *dw;               /* out × rows: this part's weight gradient */
    size_t dw_cap;
    double *db;              /* out: this part's bias gradient */
} conv_part;

typedef struct conv_impl {
    cn_conv_spec spec;       /* unused spatial entries normalised to k = s = d = 1, p = 0 */
    int64_t taps;            /* Πk */
    int64_t rows;            /* in · taps: rows of the unfolded input, columns of W */
    bool pointwise;          /* 1×1, stride 1, no padding: no unfolding */
    cn_tensor *weight;       /* out × in × k… */
    cn_tensor *bias;         /* out, or NULL without bias */
    cn_tensor *grad_weight;  /* as weight, accumulated */
    cn_tensor *grad_bias;    /* as bias, accumulated; NULL without bias */
    conv_part *part;         /* nparts scratch areas */
    int nparts;
} conv_impl;

/* Samples per chunk for the batch of g: as many as keep a chunk's unfolded input near 1 MB
 * (one for pointwise layers). Depends on the geometry only, never on the thread count. */
int64_t cn_conv_chunk(const conv_impl *c, const cn_conv_geom *g);

/* y (N × O × P) = the convolution of x over the batch of g. Errors: CN_ENOMEM. */
cn_status cn_conv_run_forward(conv_impl *c, const cn_conv_geom *g, const float *x, float *y);

/* Adds the weight and bias gradients of dY = gy at input x to the layer's; gx (NULL when not
 * wanted) receives the input gradient. Errors: CN_ENOMEM. */
cn_status cn_conv_run_backward(conv_impl *c, const cn_conv_geom *g, const float *x,
                               const float *gy, float *gx);

/* Scratch for `parts` parts of chunk_cols columns each (backward: the gradient buffers too). */
cn_status cn_conv_parts_reserve(conv_impl *c, int parts, int64_t chunk_cols, bool backward);
void cn_conv_parts_free(conv_impl *c);

#endif
