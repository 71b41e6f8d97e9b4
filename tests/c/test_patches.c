/*
 * test_patches.c — patches read from rasters (layout, reflection at the edges, invalid
 * neighbours, windows), their statistics and standardisation, augmentation by the symmetries of
 * the square, the training loop's augmentation hook and the receptive field of networks.
 */
#include "check.h"
#include "patch_fixture.h"
#include "patches_impl.h"

/* The value a patch of the fixture scene must hold at (b, dy, dx) around (y, x). */
static float expected(int b, int y, int x, int dy, int dx, int patch, int w, int h)
{
    return patch_value(b, patch_reflect(y + dy - patch / 2, h), patch_reflect(x + dx - patch / 2, w));
}

static int64_t mismatches(const cn_tensor *t, const int32_t *rows, const int32_t *cols, int n,
                          int bands, int patch, int w, int h)
{
    const float *d = cn_tensor_cdata(t);
    int64_t bad = 0;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < bands; b++)
            for (int dy = 0; dy < patch; dy++)
                for (int dx = 0; dx < patch; dx++)
                    bad += d[(((int64_t)i * bands + b) * patch + dy) * patch + dx] !=
                           expected(b, rows[i], cols[i], dy, dx, patch, w, h);
    return bad;
}

static cn_tensor *empty(void)
{
    int64_t zero = 0;
    cn_tensor *t = NULL;
    cn_tensor_new(1, &zero, &t);
    return t;
}

static void patches_are_band_planes_centred_on_their_pixels(void)
{
    const char *path = fixture_path("scene.tif");
    fixture_scene(path, 20, 15, 3, NULL, 0);
    cn_raster *r;
    CHECK_OK(cn_raster_open(path, &r));
    int32_t rows[] = {7, 3}, cols[] = {10, 12};
    cn_tensor *t = empty();
    CHECK_OK(cn_patches_read(r, rows, cols, 2, 5, t));
    CHECK(cn_tensor_ndim(t) == 4 && cn_tensor_dim(t, 0) == 2 && cn_tensor_dim(t, 1) == 3 &&
          cn_tensor_dim(t, 2) == 5 && cn_tensor_dim(t, 3) == 5);
    CHECK(mismatches(t, rows, cols, 2, 3, 5, 20, 15) == 0);
    /* the centre of sample 0, band 2 is the pixel itself */
    CHECK(cn_tensor_cdata(t)[((0 * 3 + 2) * 5 + 2) * 5 + 2] == patch_value(2, 7, 10));
    cn_tensor_release(t);
    cn_raster_close(r);
}

static void patches_reflect_at_every_edge_and_corner(void)
{
    const char *path = fixture_path("edges.tif");
    fixture_scene(path, 9, 7, 2, NULL, 0);
    cn_raster *r;
    CHECK_OK(cn_raster_open(path, &r));
    int32_t rows[] = {0, 0, 6, 6, 3, 0}, cols[] = {0, 8, 0, 8, 0, 4};
    cn_tensor *t = empty();
    CHECK_OK(cn_patches_read(r, rows, cols, 6, 7, t));
    CHECK(mismatches(t, rows, cols, 6, 2, 7, 9, 7) == 0);
    /* top-left corner: the value one up and one left of (0, 0) is that of (1, 1) */
    CHECK(cn_tensor_cdata(t)[2 * 7 + 2] == patch_value(0, 1, 1));
    cn_tensor_release(t);
    cn_raster_close(r);
}

static void a_patch_wider_than_the_scene_reflects_again(void)
{
    const char *path = fixture_path("tiny.tif");
    fixture_scene(path, 3, 2, 1, NULL, 0);
    cn_raster *r;
    CHECK_OK(cn_raster_open(path, &r));
    int32_t rows[] = {1}, cols[] = {2};
    cn_tensor *t = empty();
    CHECK_OK(cn_patches_read(r, rows, cols, 1, 9, t));
    CHECK(mismatches(t, rows, cols, 1, 1, 9, 3, 2) == 0);
    cn_tensor_release(t);
    cn_raster_close(r);
}

static void invalid_neighbours_read_as_nan(void)
{
    const char *path = fixture_path("holes.tif");
    int holes[] = {4, 5};
    fixture_scene(path, 10, 8, 2, holes, 1);
    cn_raster *r;
    CHECK_OK(cn_raster_open(path, &r));
    int32_t rows[] = {4}, cols[] = {4};
    cn_tensor *t = empty();
    CHECK_OK(cn_patches_read(r, rows, cols, 1, 3, t));
    const float *d = cn_tensor_cdata(t);
    for (int b = 0; b < 2; b++) {
        CHECK(isnan(d[(b * 3 + 1) * 3 + 2]));                   /* (4, 5): the hole */
        CHECK(d[(b * 3 + 1) * 3 + 1] == patch_value(b, 4, 4));  /* the centre */
    }
    cn_tensor_release(t);
    cn_raster_close(r);
}

static void small_windows_give_the_same_patches_in_any_order(void)
{
    const char *path = fixture_path("windows.tif");
    fixture_scene(path, 61, 47, 4, NULL, 0);
    cn_raster *r;
    CHECK_OK(cn_raster_open(path, &r));
    enum { N = 200 };
    int32_t rows[N], cols[N];
    cn_rng rng;
    cn_rng_seed(&rng, 9);
    for (int i = 0; i < N; i++) { /* scattered, repeated, any order */
        rows[i] = (int32_t)cn_rng_below(&rng, 47);
        cols[i] = (int32_t)cn_rng_below(&rng, 61);
    }
    rows[N - 1] = rows[0];
    cols[N - 1] = cols[0];
    cn_tensor *big = empty(), *small = empty();
    CHECK_OK(cn_patches_read(r, rows, cols, N, 5, big));
    /* windows of ~2 KiB: 4 bands of 17 bytes per pixel, 10 x 10 with the halo: 6 x 6 each */
    CHECK_OK(cn_patches_read_budget(r, rows, cols, N, 5, 2048, small));
    CHECK(mismatches(big, rows, cols, N, 4, 5, 61, 47) == 0);
    CHECK(cn_tensor_same_shape(big, small) &&
          memcmp(cn_tensor_cdata(big), cn_tensor_cdata(small),
                 (size_t)cn_tensor_numel(big) * sizeof(float)) == 0);
    cn_tensor_release(big);
    cn_tensor_release(small);
    cn_raster_close(r);
}

static void bad_patch_sides_and_positions_are_refused(void)
{
    const char *path = fixture_path("refuse.tif");
    fixture_scene(path, 6, 5, 1, NULL, 0);
    cn_raster *r;
    CHECK_OK(cn_raster_open(path, &r));
    int32_t rows[] = {1}, cols[] = {6};
    cn_tensor *t = empty();
    CHECK(cn_patches_read(r, rows, cols, 1, 3, t) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "outside the raster (6 x 5)") != NULL);
    cols[0] = 1;
    CHECK(cn_patches_read(r, rows, cols, 1, 4, t) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "must be odd") != NULL);
    CHECK(cn_patches_read(r, rows, cols, 1, 257, t) == CN_EINVAL);
    CHECK_OK(cn_patches_read(r, rows, cols, 0, 3, t));
    CHECK(cn_tensor_dim(t, 0) == 0);
    cn_tensor_release(t);
    cn_raster_close(r);
}

static void patch_samples_follow_the_labelled_pixels(void)
{
    const char *img = fixture_path("samples.tif"), *lab = fixture_path("samples_labels.tif");
    fixture_scene(img, 12, 9, 2, NULL, 0);
    float labels[12 * 9] = {0};
    labels[2 * 12 + 3] = 5;
    labels[8 * 12 + 11] = 7;
    labels[0] = 5;
    fixture_raster(lab, "GTiff", 12, 9, 1, GDT_Byte, labels, false, 0);
    cn_samples s;
    CHECK_OK(cn_patch_samples_from_rasters(img, lab, 3, &s));
    CHECK(s.count == 3 && s.nclasses == 2 && cn_tensor_ndim(s.x) == 4);
    CHECK(mismatches(s.x, s.rows, s.cols, (int)s.count, 2, 3, 12, 9) == 0);
    cn_samples_free(&s);
    CHECK(cn_patch_samples_from_rasters(img, lab, 2, &s) == CN_EINVAL);
    CHECK(s.x == NULL);
}

static void patch_statistics_are_those_of_the_centre_pixels(void)
{
    int64_t dims[4] = {4, 3, 3, 3};
    cn_tensor *x, *centre, *m1 = empty(), *s1 = empty(), *m2 = empty(), *s2 = empty();
    CHECK_OK(cn_tensor_new(4, dims, &x));
    CHECK_OK(cn_tensor_new2(4, 3, &centre));
    cn_rng rng;
    cn_rng_seed(&rng, 3);
    float *d = cn_tensor_data(x);
    for (int64_t i = 0; i < cn_tensor_numel(x); i++)
        d[i] = (float)cn_rng_normal(&rng) * 5.0f;
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 3; b++)
            cn_tensor_data(centre)[i * 3 + b] = d[((i * 3 + b) * 3 + 1) * 3 + 1];
    CHECK_OK(cn_patch_band_stats(x, m1, s1));
    CHECK_OK(cn_band_stats(centre, m2, s2));
    CHECK(memcmp(cn_tensor_cdata(m1), cn_tensor_cdata(m2), 3 * sizeof(float)) == 0);
    CHECK(memcmp(cn_tensor_cdata(s1), cn_tensor_cdata(s2), 3 * sizeof(float)) == 0);
    int64_t even[4] = {4, 3, 2, 2};
    CHECK_OK(cn_tensor_resize(x, 4, even));
    CHECK(cn_patch_band_stats(x, m1, s1) == CN_EINVAL);
    cn_tensor_release(x);
    cn_tensor_release(centre);
    cn_tensor_release(m1);
    cn_tensor_release(s1);
    cn_tensor_release(m2);
    cn_tensor_release(s2);
}

static void standardising_patches_matches_pixels_and_zeroes_invalid_ones(void)
{
    int64_t dims[4] = {2, 2, 3, 3};
    cn_tensor *x;
    CHECK_OK(cn_tensor_new(4, dims, &x));
    float *d = cn_tensor_data(x);
    for (int64_t i = 0; i < 36; i++)
        d[i] = (float)i * 1.7f + 0.3f;
    d[5] = NAN;
    float px[2] = {d[9 + 4], d[27 + 4]}; /* band 1 of samples 0 and 1, centre */
    int64_t two = 2;
    cn_tensor *mean, *std;
    CHECK_OK(cn_tensor_new(1, &two, &mean));
    CHECK_OK(cn_tensor_new(1, &two, &std));
    cn_tensor_data(mean)[0] = 3.0f;
    cn_tensor_data(mean)[1] = 20.0f;
    cn_tensor_data(std)[0] = 0.0f; /* a constant band: counts as 1 */
    cn_tensor_data(std)[1] = 7.0f;
    CHECK_OK(cn_patches_standardize(x, mean, std));
    CHECK(d[5] == 0.0f);
    CHECK(d[0] == 0.3f - 3.0f);
    float m[2] = {0, 20.0f}, s[2] = {1, 7.0f}, row[2] = {0, px[0]}, row2[2] = {0, px[1]};
    CHECK_OK(cn_standardize_columns(row, 1, 2, m, s));
    CHECK_OK(cn_standardize_columns(row2, 1, 2, m, s));
    CHECK(d[9 + 4] == row[1] && d[27 + 4] == row2[1]);
    int64_t three = 3;
    CHECK_OK(cn_tensor_resize(mean, 1, &three));
    CHECK(cn_patches_standardize(x, mean, std) == CN_ESHAPE);
    cn_tensor_release(x);
    cn_tensor_release(mean);
    cn_tensor_release(std);
}

/* Which of the 8 symmetries maps a (s x s plane, values 0..s²-1) to b, or -1. */
static int symmetry_of(const float *a, const float *b, int s)
{
    for (int t = 0; t < 8; t++) {
        bool same = true;
        for (int i = 0; i < s && same; i++)
            for (int j = 0; j < s && same; j++) {
                int y = (t & 1) ? j : i, x = (t & 1) ? i : j;
                if (t & 2)
                    y = s - 1 - y;
                if (t & 4)
                    x = s - 1 - x;
                same = b[i * s + j] == a[y * s + x];
            }
        if (same)
            return t;
    }
    return -1;
}

static void augmentation_applies_one_symmetry_of_the_square_per_sample(void)
{
    enum { N = 400, C = 3, S = 5 };
    int64_t dims[4] = {N, C, S, S};
    cn_tensor *x, *orig;
    CHECK_OK(cn_tensor_new(4, dims, &x));
    float *d = cn_tensor_data(x);
    for (int64_t i = 0; i < cn_tensor_numel(x); i++)
        d[i] = (float)(i % (C * S * S)); /* every sample the same, every value distinct */
    CHECK_OK(cn_tensor_new(1, dims, &orig));
    CHECK_OK(cn_tensor_copy(orig, x));
    cn_rng rng;
    cn_rng_seed(&rng, 11);
    CHECK_OK(cn_patches_augment(x, &rng));
    int seen[8] = {0}, bad = 0;
    for (int i = 0; i < N; i++) {
        int t = symmetry_of(cn_tensor_cdata(orig), d + (int64_t)i * C * S * S, S);
        for (int c = 1; c < C; c++) /* every channel turned the same way */
            bad += symmetry_of(cn_tensor_cdata(orig) + c * S * S, d + ((int64_t)i * C + c) * S * S,
                               S) != t;
        if (t < 0)
            bad++;
        else
            seen[t]++;
    }
    CHECK(bad == 0);
    for (int t = 0; t < 8; t++)
        CHECK(seen[t] > 25); /* 50 expected each */
    cn_tensor_release(x);
    cn_tensor_release(orig);
}

static void augmentation_is_fixed_by_its_seed_and_refuses_non_square_patches(void)
{
    int64_t dims[4] = {10, 2, 3, 3};
    cn_tensor *a, *b;
    CHECK_OK(cn_tensor_new(4, dims, &a));
    CHECK_OK(cn_tensor_new(4, dims, &b));
    for (int64_t i = 0; i < 180; i++)
        cn_tensor_data(a)[i] = cn_tensor_data(b)[i] = (float)i;
    cn_rng r1, r2;
    cn_rng_seed(&r1, 5);
    cn_rng_seed(&r2, 5);
    CHECK_OK(cn_patches_augment(a, &r1));
    CHECK_OK(cn_patches_augment(b, &r2));
    CHECK(memcmp(cn_tensor_cdata(a), cn_tensor_cdata(b), 180 * sizeof(float)) == 0);
    int64_t rect[4] = {10, 2, 3, 2};
    CHECK_OK(cn_tensor_resize(a, 4, rect));
    CHECK(cn_patches_augment(a, &r1) == CN_ESHAPE);
    CHECK(strstr(cn_last_error(), "S x S") != NULL);
    cn_tensor_release(a);
    cn_tensor_release(b);
}

/* A cn_batch_fn recording its calls. */
typedef struct calls {
    int n, last_epoch;
    int64_t last_batch, rows;
} calls;

static cn_status record(cn_tensor *x, cn_tensor *y, int epoch, int64_t batch, cn_rng *rng,
                        void *user_data)
{
    (void)rng;
    calls *c = user_data;
    c->n++;
    c->last_epoch = epoch;
    c->last_batch = batch;
    c->rows += cn_tensor_dim(x, 0);
    return cn_tensor_dim(y, 0) == cn_tensor_dim(x, 0) ? CN_OK : CN_EINVAL;
}

static cn_status refuse(cn_tensor *x, cn_tensor *y, int epoch, int64_t batch, cn_rng *rng,
                        void *user_data)
{
    (void)x, (void)y, (void)batch, (void)rng, (void)user_data;
    return epoch == 1 ? cn_set_error(CN_EINVAL, "augment: no") : CN_OK;
}

/* Trains a small CNN on 20 random 3 x 5 x 5 patches; returns its first weight's first value. */
static float train_small(cn_batch_fn fn, void *data, cn_status *status, int epochs)
{
    int64_t dims[4] = {20, 3, 5, 5}, n = 20;
    cn_tensor *x, *y;
    cn_tensor_new(4, dims, &x);
    cn_tensor_new(1, &n, &y);
    cn_rng rng;
    cn_rng_seed(&rng, 1);
    for (int64_t i = 0; i < cn_tensor_numel(x); i++)
        cn_tensor_data(x)[i] = (float)cn_rng_normal(&rng);
    for (int i = 0; i < 20; i++)
        cn_tensor_data(y)[i] = (float)(i % 2);
    cn_layer *net = fixture_cnn(3, 2, 4);
    cn_optim_config oc;
    cn_optim_defaults(CN_OPTIM_ADAM, &oc);
    cn_optim *opt;
    cn_optim_new(CN_OPTIM_ADAM, &oc, &opt);
    cn_train_config tc = {.epochs = epochs, .batch = 8, .seed = 2, .shuffle = true,
                          .loss = CN_LOSS_SOFTMAX_CE, .augment = fn, .augment_data = data};
    *status = cn_train(net, opt, x, y, &tc, NULL);
    cn_tensor *p;
    cn_layer_params(net, &p, NULL, 1);
    float w = cn_tensor_cdata(p)[0];
    cn_optim_free(opt);
    cn_layer_release(net);
    cn_tensor_release(x);
    cn_tensor_release(y);
    return w;
}

static void the_training_loop_calls_its_batch_hook_on_every_batch(void)
{
    calls c = {0, -1, -1, 0};
    cn_status st;
    train_small(record, &c, &st, 3);
    CHECK_OK(st);
    CHECK(c.n == 9 && c.last_epoch == 2 && c.last_batch == 2 && c.rows == 60);
    train_small(refuse, NULL, &st, 3);
    CHECK(st == CN_EINVAL && strcmp(cn_last_error(), "augment: no") == 0);
}

static void augmented_training_is_fixed_by_the_seed(void)
{
    cn_status s1, s2, s3;
    float a = train_small(cn_patches_augment_batch, NULL, &s1, 4);
    float b = train_small(cn_patches_augment_batch, NULL, &s2, 4);
    float plain = train_small(NULL, NULL, &s3, 4);
    CHECK_OK(s1);
    CHECK_OK(s2);
    CHECK(a == b);
    CHECK(a != plain);
}

/* Appends a new layer to seq and drops the local reference. */
static void add(cn_layer *seq, cn_layer *l)
{
    cn_sequential_add(seq, l);
    cn_layer_release(l);
}

static cn_layer *conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, int64_t dil)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, in, out, k);
    s.stride[0] = s.stride[1] = stride;
    s.padding[0] = s.padding[1] = pad;
    s.dilation[0] = s.dilation[1] = dil;
    cn_layer *l = NULL;
    cn_conv_new(&s, &l);
    return l;
}

static void the_receptive_field_grows_with_kernels_strides_and_dilations(void)
{
    cn_layer *net, *pool, *inner, *res;
    int rf;
    cn_sequential_new(&net);
    add(net, conv(4, 8, 1, 1, 0, 1));
    CHECK_OK(cn_net_receptive_field(net, 11, &rf));
    CHECK(rf == 1);
    add(net, conv(8, 8, 3, 1, 1, 1)); /* 3 */
    add(net, conv(8, 8, 3, 1, 0, 2)); /* + 2·2 = 7 */
    CHECK_OK(cn_net_receptive_field(net, 31, &rf));
    CHECK(rf == 7);
    cn_pool_spec ps = {{2, 2}, {2, 2}, {0, 0}, true};
    cn_pool_new(CN_LAYER_MAX_POOL2D, &ps, &pool);
    add(net, pool); /* + 1 = 8, jump 2 */
    cn_sequential_new(&inner);
    add(inner, conv(8, 8, 3, 1, 1, 1)); /* + 2·2 = 12 */
    add(inner, conv(8, 8, 3, 1, 1, 1)); /* + 2·2 = 16 */
    cn_residual_new(inner, NULL, &res);
    cn_layer_release(inner);
    add(net, res);
    CHECK_OK(cn_net_receptive_field(net, 31, &rf));
    CHECK(rf == 16);
    CHECK_OK(cn_net_receptive_field(net, 9, &rf)); /* never more than the patch */
    CHECK(rf == 9);
    cn_layer *gap;
    cn_global_avg_pool_new(&gap);
    add(net, gap);
    CHECK_OK(cn_net_receptive_field(net, 31, &rf)); /* global pooling sees the whole patch */
    CHECK(rf == 31);
    CHECK(cn_net_receptive_field(net, 0, &rf) == CN_EINVAL);
    cn_layer_release(net);
}

int main(void)
{
    fixture_init("patches");
    RUN(patches_are_band_planes_centred_on_their_pixels);
    RUN(patches_reflect_at_every_edge_and_corner);
    RUN(a_patch_wider_than_the_scene_reflects_again);
    RUN(invalid_neighbours_read_as_nan);
    RUN(small_windows_give_the_same_patches_in_any_order);
    RUN(bad_patch_sides_and_positions_are_refused);
    RUN(patch_samples_follow_the_labelled_pixels);
    RUN(patch_statistics_are_those_of_the_centre_pixels);
    RUN(standardising_patches_matches_pixels_and_zeroes_invalid_ones);
    RUN(augmentation_applies_one_symmetry_of_the_square_per_sample);
    RUN(augmentation_is_fixed_by_its_seed_and_refuses_non_square_patches);
    RUN(the_training_loop_calls_its_batch_hook_on_every_batch);
    RUN(augmented_training_is_fixed_by_the_seed);
    RUN(the_receptive_field_grows_with_kernels_strides_and_dilations);
    return CHECK_EXIT();
}
