/*
 * augment.c — data augmentation of patch batches by the eight symmetries of the square (the
 * dihedral group D4: rotations by 0°, 90°, 180°, 270° and the four reflections).
 *
 * A crop field has no preferred orientation in an image, so a patch and its rotations and mirror
 * images are equally likely examples of its class: with few labelled pixels this multiplies the
 * training set by eight at no cost in labels. Each symmetry is "transpose or not, then flip the
 * rows or not, then flip the columns or not", applied to every channel plane of a sample through
 * one index map.
 */
#include "cropnet.h"

#include <stdlib.h>
#include <string.h>

/* map[i·s + j] = source index of destination (i, j) under symmetry t (0..7; 0 = identity). */
static void symmetry_map(int t, int64_t s, int64_t *map)
{
    for (int64_t i = 0; i < s; i++)
        for (int64_t j = 0; j < s; j++) {
            int64_t a = (t & 1) ? j : i, b = (t & 1) ? i : j;
            if (t & 2)
                a = s - 1 - a;
            if (t & 4)
                b = s - 1 - b;
            map[i * s + j] = a * s + b;
        }
}

cn_status cn_patches_augment(cn_tensor *x, cn_rng *rng)
{
    const int nd = cn_tensor_ndim(x);
    const int64_t s = cn_tensor_dim(x, nd - 1);
    if (!rng || nd < 3 || cn_tensor_dim(x, nd - 2) != s) {
        char b[96];
        return cn_set_error(CN_ESHAPE, "augment: expected N x ... x S x S patches, given %s",
                            cn_tensor_shape_str(x, b, sizeof b));
    }
    const int64_t n = cn_tensor_dim(x, 0), plane = s * s;
    if (n == 0 || plane == 0)
        return CN_OK;
    const int64_t planes = cn_tensor_numel(x) / (n * plane); /* per sample */
    int64_t *maps = malloc(8 * (size_t)plane * sizeof *maps);
    float *tmp = malloc((size_t)plane * sizeof *tmp);
    if (!maps || !tmp) {
        free(maps);
        free(tmp);
        return cn_set_error(CN_ENOMEM, "augment: out of memory");
    }
    for (int t = 0; t < 8; t++)
        symmetry_map(t, s, maps + t * plane);
    float *d = cn_tensor_data(x);
    for (int64_t i = 0; i < n; i++) {
        int t = (int)cn_rng_below(rng, 8); /* drawn for every sample, so draws stay aligned */
        if (t == 0)
            continue;
        const int64_t *map = maps + t * plane;
        for (int64_t c = 0; c < planes; c++) {
            float *v = d + (i * planes + c) * plane;
            memcpy(tmp, v, (size_t)plane * sizeof *tmp);
            for (int64_t k = 0; k < plane; k++)
                v[k] = tmp[map[k]];
        }
    }
    free(maps);
    free(tmp);
    return CN_OK;
}

cn_status cn_patches_augment_batch(cn_tensor *x, cn_tensor *y, int epoch, int64_t batch,
                                   cn_rng *rng, void *user_data)
{
    (void)y;
    (void)epoch;
    (void)batch;
    (void)user_data;
    return cn_patches_augment(x, rng);
}
