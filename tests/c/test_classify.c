/*
 * test_classify.c — per-pixel prediction and tiled classification: the model's metadata checked,
 * softmax / argmax / confidence against hand computation, the tile plan within the RAM budget,
 * a tiled map equal to a one-tile map, invalid pixels, the refusals (band count, band order,
 * output equal to an input, a patch model) and atomicity on failure and cancel.
 */
#include "check.h"
#include "raster_fixture.h"

#include <math.h>

#define CLASSES3 "[{\"id\": 2, \"name\": \"Fallow\"}, {\"id\": 5, \"name\": \"Stubble\"}, " \
                 "{\"id\": 7, \"name\": \"Celery\", \"color\": \"#00ff00\"}]"

static const float eye3[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, zero3[3] = {0, 0, 0};

/* Scores = normalised pixel: the class is the band with the largest (x - mean) / std. */
static cn_model *identity_model(const float *mean, const float *std)
{
    cn_layer *l = fixture_linear(3, 3, eye3, zero3);
    cn_model *m = fixture_model(l, 3, CLASSES3, mean, std);
    cn_layer_release(l);
    return m;
}

/* A 3-layer MLP with seeded He weights and non-zero biases. */
static cn_model *mlp_model(int bands, int classes, const char *classes_json)
{
    cn_layer *seq, *a, *b, *c, *r1, *r2;
    cn_sequential_new(&seq);
    cn_linear_new(bands, 16, &a);
    cn_activation_new(CN_LAYER_RELU, 0, &r1);
    cn_linear_new(16, 8, &b);
    cn_activation_new(CN_LAYER_TANH, 0, &r2);
    cn_linear_new(8, classes, &c);
    cn_layer *all[5] = {a, r1, b, r2, c};
    for (int i = 0; i < 5; i++) {
        cn_sequential_add(seq, all[i]);
        cn_layer_release(all[i]);
    }
    cn_rng rng;
    cn_rng_seed(&rng, 7);
    cn_layer_init(seq, CN_INIT_HE_NORMAL, 0, &rng);
    cn_tensor *p[6];
    size_t np = cn_layer_params(seq, p, NULL, 6);
    for (size_t i = 1; i < np; i += 2)
        for (int64_t j = 0; j < cn_tensor_numel(p[i]); j++)
            cn_tensor_data(p[i])[j] = (float)(0.1 * cn_rng_normal(&rng));
    float mean[8] = {100, 200, 300, 400, 0, 0, 0, 0}, std[8] = {30, 60, 90, 0, 1, 1, 1, 1};
    cn_model *m = fixture_model(seq, bands, classes_json, mean, std);
    cn_layer_release(seq);
    return m;
}

static void predict_gives_argmax_ids_and_softmax_confidence(void)
{
    const float mean[3] = {10, 0, 0}, std[3] = {2, 1, 0}; /* std 0 is taken as 1 */
    cn_model *m = identity_model(mean, std);
    cn_pixel_model *pm;
    CHECK_OK(cn_pixel_model_open(m, &pm));
    /* pixel 0 → (0, 1, 3): class 7; pixel 1 → (5, 1, -1): class 2 */
    const float px[6] = {10, 1, 3, 20, 1, -1};
    int32_t ids[2];
    float conf[2], probs[6];
    CHECK_OK(cn_pixel_model_predict(pm, px, 2, ids, conf, probs));
    CHECK(ids[0] == 7 && ids[1] == 2);
    double s0 = exp(0.0) + exp(1.0) + exp(3.0);
    CHECK_NEAR(conf[0], exp(3.0) / s0, 1e-6);
    CHECK_NEAR(probs[0], 1 / s0, 1e-6);
    CHECK_NEAR(probs[1], exp(1.0) / s0, 1e-6);
    CHECK_NEAR(probs[3] + probs[4] + probs[5], 1.0, 1e-6);
    CHECK_NEAR(conf[1], probs[3], 1e-7);
    cn_pixel_model_close(pm);
    cn_model_free(m);
}

static void predict_runs_many_batches_like_one(void)
{
    cn_model *m = mlp_model(4, 5, "[{\"id\":1},{\"id\":2},{\"id\":3},{\"id\":4},{\"id\":9}]");
    cn_pixel_model *pm;
    CHECK_OK(cn_pixel_model_open(m, &pm));
    const int64_t n = 2 * CN_PREDICT_BATCH + 17;
    float *px = malloc((size_t)n * 4 * sizeof *px), conf1[1];
    cn_rng rng;
    cn_rng_seed(&rng, 3);
    for (int64_t i = 0; i < n * 4; i++)
        px[i] = (float)(400 * cn_rng_uniform(&rng));
    int32_t *ids = malloc((size_t)n * sizeof *ids), id1;
    CHECK_OK(cn_pixel_model_predict(pm, px, n, ids, NULL, NULL));
    int same = 0;
    for (int64_t i = 0; i < n; i += 997) {
        CHECK_OK(cn_pixel_model_predict(pm, px + i * 4, 1, &id1, conf1, NULL));
        same += id1 == ids[i];
    }
    CHECK(same == (int)((n + 996) / 997));
    free(px);
    free(ids);
    cn_pixel_model_close(pm);
    cn_model_free(m);
}

static void models_without_raster_metadata_are_refused(void)
{
    cn_layer *l = fixture_linear(3, 3, eye3, zero3);
    cn_model *m;
    CHECK_OK(cn_model_new(l, &m));
    cn_pixel_model *pm = NULL;
    CHECK(cn_pixel_model_open(m, &pm) == CN_EFORMAT && pm == NULL);
    CHECK(strstr(cn_last_error(), "\"bands\"") != NULL);
    cn_model_set_meta(m, "bands", "3");
    CHECK(cn_pixel_model_open(m, &pm) == CN_EFORMAT);
    CHECK(strstr(cn_last_error(), "\"classes\"") != NULL);
    cn_model_set_meta(m, "classes", "[{\"id\": 1}, {\"id\": 1}, {\"id\": 2}]");
    CHECK(cn_pixel_model_open(m, &pm) == CN_EFORMAT);
    CHECK(strstr(cn_last_error(), "twice") != NULL);
    cn_model_free(m);
    cn_layer_release(l);
}

static void models_whose_sizes_disagree_are_refused(void)
{
    cn_layer *l = fixture_linear(3, 3, eye3, zero3);
    cn_model *m = fixture_model(l, 4, CLASSES3, NULL, NULL); /* net takes 3 */
    cn_pixel_model *pm = NULL;
    CHECK(cn_pixel_model_open(m, &pm) == CN_EFORMAT);
    CHECK(strstr(cn_last_error(), "takes 3 inputs") && strstr(cn_last_error(), "\"bands\" is 4"));
    cn_model_free(m);
    m = fixture_model(l, 3, "[{\"id\": 1}, {\"id\": 2}]", NULL, NULL); /* net gives 3 */
    CHECK(cn_pixel_model_open(m, &pm) == CN_EFORMAT);
    CHECK(strstr(cn_last_error(), "3 outputs") && strstr(cn_last_error(), "lists 2"));
    cn_model_free(m);
    const float mean[4] = {0}, std[4] = {1, 1, 1, 1};
    m = fixture_model(l, 3, CLASSES3, mean, std);
    int64_t four = 4;
    cn_tensor *t;
    cn_tensor_new(1, &four, &t);
    cn_model_set_tensor(m, "norm.std", t);
    cn_tensor_release(t);
    CHECK(cn_pixel_model_open(m, &pm) == CN_EFORMAT);
    CHECK(strstr(cn_last_error(), "norm.std") != NULL);
    cn_model_free(m);
    cn_layer_release(l);
}

static void patch_models_are_refused_here(void)
{
    cn_model *m = identity_model(NULL, NULL);
    cn_model_set_meta(m, "input", "patch");
    cn_pixel_model *pm = NULL;
    CHECK(cn_pixel_model_open(m, &pm) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "patch") && strstr(cn_last_error(), "per-pixel"));
    cn_model_free(m);
}

static void plan_keeps_the_tile_within_the_budget(void)
{
    cn_tile_plan p;
    CHECK_OK(cn_classify_plan(2000, 2000, 4, 5, false, false, 0, 0, &p));
    CHECK(p.tile_w == 512 && p.tile_h == 512 && p.bytes_per_pixel == 4 * 4 + 5);
    CHECK_OK(cn_classify_plan(8000, 8000, 200, 16, true, true, 512, 16, &p));
    CHECK(p.bytes_per_pixel == 800 + 1 + 4 + 4 + 64);
    CHECK(p.tile_w == 512 && p.tile_h == (int)((16u << 20) / p.bytes_per_pixel / 512));
    CHECK(p.tile_bytes <= (16u << 20));
    /* the same budget gives the same tile whatever the scene size */
    cn_tile_plan q;
    CHECK_OK(cn_classify_plan(2000, 2000, 200, 16, true, true, 512, 16, &q));
    CHECK(q.tile_w == p.tile_w && q.tile_h == p.tile_h);
    /* a budget below one row narrows the tile */
    CHECK_OK(cn_classify_plan(100, 100, 100000, 2, false, false, 64, 1, &p));
    CHECK(p.tile_h == 1 && p.tile_w == (int)((1u << 20) / p.bytes_per_pixel));
    /* a tile larger than the scene is the scene */
    CHECK_OK(cn_classify_plan(30, 20, 3, 3, false, false, 512, 0, &p));
    CHECK(p.tile_w == 30 && p.tile_h == 20);
    CHECK(cn_classify_plan(0, 20, 3, 3, false, false, 512, 0, &p) == CN_EINVAL);
}

/* A W × H × 4 Float32 scene of seeded values with a few nodata (-1) pixels. */
static void make_scene(const char *path, int w, int h)
{
    float *v = malloc((size_t)w * h * 4 * sizeof *v);
    cn_rng rng;
    cn_rng_seed(&rng, 11);
    for (int64_t i = 0; i < (int64_t)w * h * 4; i++)
        v[i] = (float)(500 * cn_rng_uniform(&rng));
    for (int64_t p = 0; p < (int64_t)w * h; p += 37)
        v[p * 4 + (p % 4)] = -1;
    fixture_raster(path, "GTiff", w, h, 4, GDT_Float32, v, true, -1);
    free(v);
}

static float *read_all(const char *path, int *bands)
{
    cn_raster *r;
    if (cn_raster_open(path, &r))
        return NULL;
    *bands = cn_raster_bands(r);
    size_t n = (size_t)cn_raster_width(r) * cn_raster_height(r) * *bands;
    float *v = malloc(n * sizeof *v);
    if (cn_raster_read(r, 0, 0, cn_raster_width(r), cn_raster_height(r), v, NULL)) {
        free(v);
        v = NULL;
    }
    cn_raster_close(r);
    return v;
}

static bool same_values(const char *a, const char *b, size_t n)
{
    int ba = 0, bb = 0;
    float *va = read_all(a, &ba), *vb = read_all(b, &bb);
    bool same = va && vb && ba == bb && memcmp(va, vb, n * (size_t)ba * sizeof *va) == 0;
    free(va);
    free(vb);
    return same;
}

static void tiled_output_equals_one_tile_output(void)
{
    const char *scene = fixture_path("scene.tif");
    make_scene(scene, 517, 389);
    cn_model *m = mlp_model(4, 5, "[{\"id\":1},{\"id\":2},{\"id\":3},{\"id\":4},{\"id\":9}]");
    cn_classify_options o;
    memset(&o, 0, sizeof o);
    o.tile = 128;
    o.confidence = fixture_path("conf_tiled.tif");
    o.probabilities = fixture_path("probs_tiled.tif");
    CHECK_OK(cn_classify(scene, m, fixture_path("map_tiled.tif"), &o));
    o.tile = 1024;
    o.confidence = fixture_path("conf_one.tif");
    o.probabilities = fixture_path("probs_one.tif");
    CHECK_OK(cn_classify(scene, m, fixture_path("map_one.tif"), &o));
    const size_t n = 517 * 389;
    CHECK(same_values(fixture_path("map_tiled.tif"), fixture_path("map_one.tif"), n));
    CHECK(same_values(fixture_path("conf_tiled.tif"), fixture_path("conf_one.tif"), n));
    CHECK(same_values(fixture_path("probs_tiled.tif"), fixture_path("probs_one.tif"), n));
    /* and the map is not trivial: several classes appear */
    int b;
    float *map = read_all(fixture_path("map_one.tif"), &b);
    int seen[10] = {0};
    for (size_t i = 0; map && i < n; i++)
        seen[(int)map[i] % 10] = 1;
    CHECK(seen[0] && seen[1] + seen[2] + seen[3] + seen[4] + seen[9] >= 3);
    free(map);
    cn_model_free(m);
}

static void invalid_pixels_get_class_zero_and_no_confidence(void)
{
    const float v[9] = {1, 9, 2, -1, 5, 5, 3, 2, 1}; /* pixel 1 has nodata in band 1 */
    const char *scene = fixture_path("invalid.tif");
    fixture_raster(scene, "GTiff", 3, 1, 3, GDT_Float32, v, true, -1);
    cn_model *m = identity_model(NULL, NULL);
    cn_classify_options o;
    memset(&o, 0, sizeof o);
    o.confidence = fixture_path("invalid_conf.tif");
    o.probabilities = fixture_path("invalid_probs.tif");
    CHECK_OK(cn_classify(scene, m, fixture_path("invalid_map.tif"), &o));
    int b;
    float *map = read_all(fixture_path("invalid_map.tif"), &b),
          *conf = read_all(o.confidence, &b), *probs = read_all(o.probabilities, &b);
    CHECK(map && map[0] == 5 && map[1] == 0 && map[2] == 2);
    CHECK(conf && conf[1] == 0 && conf[0] > 0.9f);
    CHECK(probs && probs[3] == -1 && probs[4] == -1 && probs[5] == -1 && probs[1] > 0.9f);
    free(map);
    free(conf);
    free(probs);
    cn_model_free(m);
}

static void band_count_mismatch_keeps_an_existing_map(void)
{
    const char *scene = fixture_path("two_bands.tif"), *out = fixture_path("existing.tif");
    fixture_raster(scene, "GTiff", 4, 4, 2, GDT_Byte, NULL, false, 0);
    fixture_write_text(out, "an older map");
    int before = fixture_count_files();
    cn_model *m = identity_model(NULL, NULL);
    CHECK(cn_classify(scene, m, out, NULL) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), scene) && strstr(cn_last_error(), "has 2 bands") &&
          strstr(cn_last_error(), "expects 3"));
    CHECK(fixture_count_files() == before);
    char *text = fixture_read_text(out);
    CHECK(text && strcmp(text, "an older map") == 0);
    free(text);
    cn_model_free(m);
}

static void band_order_differing_from_the_model_is_refused(void)
{
    const char *scene = fixture_path("named.tif");
    fixture_raster(scene, "GTiff", 2, 2, 3, GDT_Byte, NULL, false, 0);
    GDALDatasetH ds = GDALOpen(scene, GA_Update);
    const char *names[3] = {"B2", "B4", "B3"};
    for (int i = 0; i < 3; i++)
        GDALSetDescription(GDALGetRasterBand(ds, i + 1), names[i]);
    GDALClose(ds);
    cn_model *m = identity_model(NULL, NULL);
    cn_model_set_meta(m, "band_names", "[\"B2\", \"B3\", \"B4\"]");
    CHECK(cn_classify(scene, m, fixture_path("named_map.tif"), NULL) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "band 2 is 'B4'") && strstr(cn_last_error(), "expects 'B3'"));
    CHECK(!fixture_exists(fixture_path("named_map.tif")));
    cn_model_set_meta(m, "band_names", "[\"B2\", \"B4\", \"B3\"]");
    CHECK_OK(cn_classify(scene, m, fixture_path("named_map.tif"), NULL));
    cn_model_free(m);
}

static void output_equal_to_the_image_or_model_is_refused(void)
{
    const char *scene = fixture_path("self.tif");
    fixture_raster(scene, "GTiff", 4, 4, 3, GDT_Byte, NULL, false, 0);
    cn_model *m = identity_model(NULL, NULL);
    CHECK(cn_classify(scene, m, scene, NULL) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "also an input") != NULL);
    cn_raster *r;
    CHECK_OK(cn_raster_open(scene, &r));
    CHECK(cn_raster_width(r) == 4);
    cn_raster_close(r);
    cn_classify_options o;
    memset(&o, 0, sizeof o);
    o.model_path = fixture_path("model.cropnet");
    CHECK(cn_classify(scene, m, o.model_path, &o) == CN_EINVAL);
    o.confidence = fixture_path("same.tif");
    CHECK(cn_classify(scene, m, fixture_path("same.tif"), &o) == CN_EINVAL);
    CHECK(!fixture_exists(fixture_path("same.tif")));
    cn_model_free(m);
}

static int cancel_after_two(double fraction, const char *msg, void *data)
{
    (void)fraction;
    (void)msg;
    int *calls = data;
    return ++*calls <= 2;
}

static void cancel_leaves_no_output(void)
{
    const char *scene = fixture_path("cancel.tif");
    make_scene(scene, 300, 200);
    int before = fixture_count_files();
    cn_model *m = mlp_model(4, 5, "[{\"id\":1},{\"id\":2},{\"id\":3},{\"id\":4},{\"id\":9}]");
    cn_classify_options o;
    memset(&o, 0, sizeof o);
    int calls = 0;
    o.tile = 64;
    o.progress = cancel_after_two;
    o.progress_data = &calls;
    o.confidence = fixture_path("cancel_conf.tif");
    CHECK(cn_classify(scene, m, fixture_path("cancel_map.tif"), &o) == CN_ECANCELLED);
    CHECK(calls == 3);
    CHECK(fixture_count_files() == before);
    cn_model_free(m);
}

static void a_truncated_image_fails_and_leaves_no_output(void)
{
    const char *scene = fixture_path("cut_scene.tif");
    make_scene(scene, 300, 200);
    struct stat st;
    stat(scene, &st);
    CHECK(truncate(scene, st.st_size * 3 / 4) == 0);
    int before = fixture_count_files();
    cn_model *m = mlp_model(4, 5, "[{\"id\":1},{\"id\":2},{\"id\":3},{\"id\":4},{\"id\":9}]");
    cn_status s = cn_classify(scene, m, fixture_path("cut_map.tif"), NULL);
    CHECK(s == CN_EIO || s == CN_EFORMAT);
    CHECK(strstr(cn_last_error(), scene) != NULL);
    CHECK(fixture_count_files() == before);
    cn_model_free(m);
}

int main(void)
{
    fixture_init("classify");
    RUN(predict_gives_argmax_ids_and_softmax_confidence);
    RUN(predict_runs_many_batches_like_one);
    RUN(models_without_raster_metadata_are_refused);
    RUN(models_whose_sizes_disagree_are_refused);
    RUN(patch_models_are_refused_here);
    RUN(plan_keeps_the_tile_within_the_budget);
    RUN(tiled_output_equals_one_tile_output);
    RUN(invalid_pixels_get_class_zero_and_no_confidence);
    RUN(band_count_mismatch_keeps_an_existing_map);
    RUN(band_order_differing_from_the_model_is_refused);
    RUN(output_equal_to_the_image_or_model_is_refused);
    RUN(cancel_leaves_no_output);
    RUN(a_truncated_image_fails_and_leaves_no_output);
    return CHECK_EXIT();
}
