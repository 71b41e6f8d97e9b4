/*
 * im2col.h — unfolding convolution windows into the columns of a matrix and folding them back
 * (internal to the convolution layers).
 *
 * A batch of N inputs C×D×H×W (D = 1 for 2-D) becomes one matrix of C·kd·kh·kw rows and
 * N·OD·OH·OW columns: row (c, kz, ky, kx), column (n, oz, oy, ox) holds the input value that
 * kernel tap meets at that output position (zero in the padding). With the weights as an
 * O × (C·kd·kh·kw) matrix, one GEMM then gives every output of the batch, which keeps the GEMM
 * large even for the small images of patch classifiers (11×11). The row order matches PyTorch's
 * weight layout (out, in, kd, kh, kw).
 */
#ifndef CROPNET_IM2COL_H
#define CROPNET_IM2COL_H

#include <stdint.h>

typedef struct cn_conv_geom {
    int64_t n, c;                       /* samples, channels */
    int64_t in[3];                      /* input D, H, W */
    int64_t out[3];                     /* output OD, OH, OW */
    int64_t k[3], s[3], p[3], d[3];     /* kernel, stride, padding, dilation per axis */
} cn_conv_geom;

/* col (rows × n·OD·OH·OW, see above) from x (n × c × D × H × W). */
void cn_im2col(const cn_conv_geom *g, const float *x, float *col);

/* dx (n × c × D × H × W) = the sum over every column entry of col into the input position it
 * came from; dx is overwritten (positions no window meets get zero). */
void cn_col2im(const cn_conv_geom *g, const float *col, float *dx);

/* The same on part of the work, for threads sharing a call: rows [r0, r1) of col (rows are
 * (c, kz, ky, kx), c·kd·kh·kw of them), and channels [c0, c1) of dx. */
void cn_im2col_rows(const cn_conv_geom *g, const float *x, float *col, int64_t r0, int64_t r1);
void cn_col2im_channels(const cn_conv_geom *g, const float *col, float *dx, int64_t c0,
                        int64_t c1);

#endif
