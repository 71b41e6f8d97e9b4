/*
 * patches_impl.h — the patch reader with its window budget as a parameter, so tests can make a
 * small scene span many windows. Not part of the public API.
 */
#ifndef CROPNET_PATCHES_IMPL_H
#define CROPNET_PATCHES_IMPL_H

#include "cropnet.h"

/* The window budget of cn_patches_read. */
#define CN_PATCH_WINDOW_BYTES ((size_t)64 << 20)

/* cn_patches_read with windows of at most about window_bytes of pixels (one pixel and its halo
 * at least). */
cn_status cn_patches_read_budget(cn_raster *r, const int32_t *rows, const int32_t *cols,
                                 int64_t n, int patch, size_t window_bytes, cn_tensor *out);

#endif
