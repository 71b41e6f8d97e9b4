/*
 * conv_impl.h — the state of a convolution layer, shared by conv.c (the layer) and conv1x1.c
 * (the direct path of pointwise convolutions). Not part of the public API.
 */
#ifndef CROPNET_CONV_IMPL_H
#define CROPNET_CONV_IMPL_H

#include "im2col.h"
#include "layer_impl.h"

typedef struct conv_impl {
    cn_conv_spec spec;       /* unused spatial entries normalised to k = s = d = 1, p = 0 */
    int64_t taps;            /* Πk */
    int64_t rows;            /* in · taps: rows of the unfolded input, columns of W */
    bool pointwise;          /* 1×1, stride 1, no padding: no unfolding */
    cn_tensor *weight;       /* out × in × k… */
    cn_tensor *bias;         /* out, or NULL without bias */
    cn_tensor *grad_weight;  /* as weight, accumulated */
    cn_tensor *grad_bias;    /* as bias, accumulated; NULL without bias */
    cn_tensor *col;          /* rows × N·P: the last forward's unfolded input, kept for backward */
    cn_tensor *dcol;         /* rows × N·P: Wᵀ·dY before folding */
    cn_tensor *prod;         /* out × N·P: the forward product, then dY regrouped */
    cn_conv_geom geom;       /* of the last forward */
    bool have_forward;       /* a forward completed since the last shape change */
} conv_impl;

/* y (N × O × P, holding the bias) += W · x_n for each sample: the direct 1×1 path. */
void cn_conv_pointwise_forward(const conv_impl *c, const cn_conv_geom *g, const float *x,
                               float *y);
/* dW += Σ dY_n · x_nᵀ; gx (NULL when not wanted) = Wᵀ · dY_n per sample. */
void cn_conv_pointwise_backward(conv_impl *c, const cn_conv_geom *g, const float *x,
                                const float *gy, float *gx);

/* im2col / col2im over the whole batch, split over the threads of cn_set_threads. */
void cn_conv_unfold(const cn_conv_geom *g, const float *x, float *col);
void cn_conv_fold(const cn_conv_geom *g, const float *col, float *dx);

/* y (N × o × P) = prod (o × N·P) regrouped, plus bias[o] when bias is not NULL. */
void cn_conv_scatter(const cn_conv_geom *g, int64_t o, const float *prod, const float *bias,
                     float *y);
/* prod (o × N·P) = gy (N × o × P) regrouped; adds each channel's sum to bias_sums if not NULL. */
void cn_conv_gather(const cn_conv_geom *g, int64_t o, const float *gy, float *prod,
                    float *bias_sums);

#endif
