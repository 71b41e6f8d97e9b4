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
    float *pad;              /* a chunk's input (or dY) with its padding, for the direct kernel */
    size_t pad_cap;
    float *xpad;             /* backward: the chunk's input with its padding (weight gradient) */
    size_t xpad_cap;
    float *dyt;              /* backward: dY transposed, positions × padded output channels */
    size_t dyt_cap;
    const float **ptrs;      /* direct kernels' pointer scratch */
    int64_t *offs;           /* direct kernels' offset scratch */
    size_t ptrs_cap, offs_cap;
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
    float *wpack;            /* weights packed for the direct kernel (forward or transposed) */
    size_t wpack_cap;
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

/* ---------------------------------------------------------------- direct kernel (conv_direct.c) */

/* One direct convolution: every output of n samples from an input already padded. */
typedef struct cn_conv_direct_args {
    int64_t n, c, o;         /* samples, input channels (summed over), output channels */
    int64_t in[3];           /* the padded input's D, H, W */
    int64_t out[3];          /* the output's D, H, W */
    int64_t k[3], s[3], d[3];
    const float *x;          /* n × c × in */
    const float *wp;         /* weights packed by cn_conv_direct_pack */
    const float *bias;       /* o values, or NULL */
    float *y;                /* n × o × out */
    const float **ptrs;      /* scratch: cn_conv_direct_ptrs(...) pointers */
    int64_t *offs;           /* scratch: cn_conv_direct_offs(...) offsets */
} cn_conv_direct_args;

/* Scratch sizes the direct kernels need for n samples of P output positions, taps kernel taps
 * and rows = c·taps (input channel, tap) pairs. */
int64_t cn_conv_direct_ptrs(int64_t P, int64_t rows);
int64_t cn_conv_direct_offs(int64_t n, int64_t P, int64_t taps);

/* Kernels with at most this many taps run direct. */
#define CN_DIRECT_MAX_TAPS 512

/* Whether the direct kernel runs on this CPU (AVX-512F), and not disabled for tests. */
bool cn_conv_direct_available(void);
/* Tests: true sends every convolution down the im2col path. */
void cn_conv_force_generic(bool on);
/* Packs w (O × C × taps) as [c][t][o] (o padded to 16), or transposed as [o][t][c] with the taps
 * flipped (for the input gradient); out holds rows × taps × padded lanes. */
void cn_conv_direct_pack(const float *w, int64_t O, int64_t C, int64_t taps, bool transpose,
                         float *out);
/* xp (n × c × padded sizes) = x with pad[i] zeros on both sides of axis i. */
void cn_conv_direct_pad(const cn_conv_geom *g, const int64_t pad[3], const float *x, float *xp);
void cn_conv_direct_run(const cn_conv_direct_args *a);

/* Output positions per register tile of the direct kernel. */
#define CN_DIRECT_TILE 6

/* The direct kernel at a list of output positions anywhere: position j reads its window from
 * origins[j] (input channel 0; channels cstride apart, taps at toff) and writes output channel
 * oc to dst[j][oc · ostride]. origins needs npos + CN_DIRECT_TILE entries (the tail is scratch).
 * A position's value is bit for bit what cn_conv_direct_run gives for the same window. */
typedef struct cn_conv_points {
    const float **origins;   /* npos + CN_DIRECT_TILE entries */
    float *const *dst;       /* npos entries */
    int64_t npos;
    int64_t cstride;         /* between input channels */
    const int64_t *toff;     /* taps offsets from a window origin */
    int64_t taps, c, o;      /* taps, input channels (summed over), output channels */
    const float *wp;         /* weights packed by cn_conv_direct_pack */
    const float *bias;       /* o values, or NULL */
    int64_t ostride;         /* between output channels */
} cn_conv_points;
void cn_conv_direct_points(const cn_conv_points *a);
/* dw (o × c·taps) += the weight gradient of a's convolution (its x, sizes, strides) for dyt,
 * dY transposed to (n·P positions) × (o padded to 16). */
void cn_conv_direct_dw(const cn_conv_direct_args *a, const float *dyt, float *dw);

/* Scratch for `parts` parts of chunk_cols columns each (backward: the gradient buffers too). */
cn_status cn_conv_parts_reserve(conv_impl *c, int parts, int64_t chunk_cols, bool backward);
void cn_conv_parts_free(conv_impl *c);

#endif
