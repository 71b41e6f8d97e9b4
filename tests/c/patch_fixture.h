/*
 * patch_fixture.h — scenes and networks for the patch tests: a raster whose every value tells
 * its band, row and column, a small random CNN (1×1 convolution, batch normalisation with
 * non-trivial running statistics, a 3×3 convolution, global average pooling, dense) and the
 * patch model around it.
 */
#ifndef CROPNET_PATCH_FIXTURE_H
#define CROPNET_PATCH_FIXTURE_H

#include "raster_fixture.h"

#include <math.h>

/* The value of band b at (y, x) in fixture_scene: distinct for every band and pixel. */
static inline float patch_value(int b, int y, int x) { return (float)(b * 10000 + y * 100 + x); }

/* A Float32 scene w × h × bands of patch_value, with nodata -1 set on the listed pixels
 * (npix pairs of (y, x) in invalid, may be 0). */
static inline void fixture_scene(const char *path, int w, int h, int bands, const int *invalid,
                                 int npix)
{
    float *v = malloc((size_t)w * h * bands * sizeof *v);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int b = 0; b < bands; b++)
                v[((size_t)y * w + x) * bands + b] = patch_value(b, y, x);
    for (int i = 0; i < npix; i++)
        for (int b = 0; b < bands; b++)
            v[((size_t)invalid[2 * i] * w + invalid[2 * i + 1]) * bands + b] = -1.0f;
    fixture_raster(path, "GTiff", w, h, bands, GDT_Float32, v, npix > 0, -1.0);
    free(v);
}

/* A Float32 scene w × h × bands of waves and noise around the means of fixture_patch_model
 * (10000·b + 2000), with nodata -1 on the listed pixels as fixture_scene. */
static inline void fixture_random_scene(const char *path, int w, int h, int bands, uint64_t seed,
                                        const int *invalid, int npix)
{
    float *v = malloc((size_t)w * h * bands * sizeof *v);
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    /* smooth waves of a different phase in each band, so regions differ, plus noise */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int b = 0; b < bands; b++)
                v[((size_t)y * w + x) * bands + b] =
                    10000.0f * (float)b + 2000.0f +
                    3000.0f * (float)(sin(0.25 * x + 1.3 * b) * cos(0.2 * y - 0.7 * b)) +
                    300.0f * (float)cn_rng_normal(&rng);
    for (int i = 0; i < npix; i++)
        for (int b = 0; b < bands; b++)
            v[((size_t)invalid[2 * i] * w + invalid[2 * i + 1]) * bands + b] = -1.0f;
    fixture_raster(path, "GTiff", w, h, bands, GDT_Float32, v, npix > 0, -1.0);
    free(v);
}

/* numpy's "reflect" index (as cn_raster_read_reflect). */
static inline int patch_reflect(int i, int n)
{
    if (n == 1)
        return 0;
    int p = 2 * (n - 1), m = ((i % p) + p) % p;
    return m < n ? m : p - m;
}

/* A random CNN for bands-band patches and k classes, in evaluation mode, with batch-norm running
 * statistics away from (0, 1) so that evaluation mode matters: a 1×1 convolution to width
 * channels, batch norm, ReLU (the per-pixel head), then a 3×3 convolution padded by 1 to 8
 * channels, tanh, global average pooling and a dense layer. */
static inline cn_layer *fixture_cnn_width(int bands, int width, int k, uint64_t seed)
{
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    cn_layer *net, *l;
    cn_sequential_new(&net);
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, bands, width, 1);
    cn_conv_new(&s, &l);
    cn_sequential_add(net, l);
    cn_layer_release(l);
    cn_batchnorm_new(width, 1e-5f, 0.1f, &l);
    float *rm = cn_tensor_data(cn_batchnorm_running_mean(l));
    float *rv = cn_tensor_data(cn_batchnorm_running_var(l));
    for (int c = 0; c < width; c++) {
        rm[c] = 0.3f * (float)c - 0.5f;
        rv[c] = 0.5f + 0.25f * (float)c;
    }
    cn_sequential_add(net, l);
    cn_layer_release(l);
    cn_activation_new(CN_LAYER_RELU, 0, &l);
    cn_sequential_add(net, l);
    cn_layer_release(l);
    cn_conv_spec_default(&s, 2, width, 8, 3);
    s.padding[0] = s.padding[1] = 1;
    cn_conv_new(&s, &l);
    cn_sequential_add(net, l);
    cn_layer_release(l);
    cn_activation_new(CN_LAYER_TANH, 0, &l);
    cn_sequential_add(net, l);
    cn_layer_release(l);
    cn_global_avg_pool_new(&l);
    cn_sequential_add(net, l);
    cn_layer_release(l);
    cn_linear_new(8, k, &l);
    cn_sequential_add(net, l);
    cn_layer_release(l);
    cn_layer_init(net, CN_INIT_XAVIER_UNIFORM, 0, &rng);
    cn_layer_set_training(net, false);
    return net;
}

/* fixture_cnn_width with 6 channels in the head. */
static inline cn_layer *fixture_cnn(int bands, int k, uint64_t seed)
{
    return fixture_cnn_width(bands, 6, k, seed);
}

/* Appends a 2-D convolution in → out with kernel k, dilation d and padding p to net. */
static inline void fixture_add_conv(cn_layer *net, int in, int out, int k, int d, int p)
{
    cn_conv_spec s;
    cn_layer *l;
    cn_conv_spec_default(&s, 2, in, out, k);
    s.dilation[0] = s.dilation[1] = d;
    s.padding[0] = s.padding[1] = p;
    cn_conv_new(&s, &l);
    cn_sequential_add(net, l);
    cn_layer_release(l);
}

static inline void fixture_add(cn_layer *net, cn_layer *l)
{
    cn_sequential_add(net, l);
    cn_layer_release(l);
}

/* A random CNN for 7 × 7 patches whose first layers are three stride-1 convolutions: 3 × 3
 * padded by 1 to 5 channels, ReLU; 3 × 3 dilated by 2, padded by 1, to 70 channels (two groups
 * of the direct kernel's 64), batch norm (evaluation), ELU; 2 × 2 unpadded to 6 channels (no
 * output of it is the same in two patches: the shared stack ends before it); then max-pool 2,
 * flatten, dense to k classes. */
static inline cn_layer *fixture_cnn_stack(int bands, int k, uint64_t seed)
{
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    cn_layer *net, *l;
    cn_sequential_new(&net);
    fixture_add_conv(net, bands, 5, 3, 1, 1);
    cn_activation_new(CN_LAYER_RELU, 0, &l);
    fixture_add(net, l);
    fixture_add_conv(net, 5, 70, 3, 2, 1);
    cn_batchnorm_new(70, 1e-5f, 0.1f, &l);
    for (int c = 0; c < 70; c++) {
        cn_tensor_data(cn_batchnorm_running_mean(l))[c] = 0.01f * (float)c - 0.3f;
        cn_tensor_data(cn_batchnorm_running_var(l))[c] = 0.4f + 0.02f * (float)c;
    }
    fixture_add(net, l);
    cn_activation_new(CN_LAYER_ELU, 1.0f, &l);
    fixture_add(net, l);
    fixture_add_conv(net, 70, 6, 2, 1, 0);
    cn_pool_spec ps = {.kernel = {2, 2}, .floor = true};
    cn_pool_new(CN_LAYER_MAX_POOL2D, &ps, &l);
    fixture_add(net, l);
    cn_flatten_new(&l);
    fixture_add(net, l);
    cn_linear_new(6 * 2 * 2, k, &l);
    fixture_add(net, l);
    cn_layer_init(net, CN_INIT_XAVIER_UNIFORM, 0, &rng);
    cn_layer_set_training(net, false);
    return net;
}

/* A patch model around net: "bands", "classes" (k classes with ids 2, 4, 6, ...), "input" patch,
 * "patch", "receptive_field" = patch, norm tensors mean[b] = 10000·b + 2000, std 1500. */
static inline cn_model *fixture_patch_model(cn_layer *net, int bands, int k, int patch)
{
    char classes[1024] = "[", buf[64];
    for (int i = 0; i < k; i++) {
        snprintf(buf, sizeof buf, "%s{\"id\": %d, \"name\": \"c%d\"}", i ? ", " : "", 2 * i + 2,
                 2 * i + 2);
        strcat(classes, buf);
    }
    strcat(classes, "]");
    float mean[64], std[64];
    for (int b = 0; b < bands; b++) {
        mean[b] = 10000.0f * (float)b + 2000.0f;
        std[b] = 1500.0f;
    }
    cn_model *m = fixture_model(net, bands, classes, mean, std);
    cn_model_set_meta(m, "input", "patch");
    snprintf(buf, sizeof buf, "%d", patch);
    cn_model_set_meta(m, "patch", buf);
    cn_model_set_meta(m, "receptive_field", buf);
    return m;
}

#endif
