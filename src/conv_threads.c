/*
 * conv_threads.c — the memory-bound halves of convolution (unfolding and folding) over the
 * batch as a whole.
 */
#include "conv_impl.h"

void cn_conv_unfold(const cn_conv_geom *g, const float *x, float *col)
{
    cn_im2col(g, x, col);
}

void cn_conv_fold(const cn_conv_geom *g, const float *col, float *dx)
{
    cn_col2im(g, col, dx);
}
