/*
 * test_patch_classify.c — patch models in the crop-map path: a tiled map identical pixel for
 * pixel to the whole scene's (labels, confidences, probabilities) on a scene of odd size that
 * spans many tiles, the map agreeing with the network run on the training path's patches,
 * invalid pixels, the saved model classifying the same, and the refusals of bad patch models.
 */
#include "check.h"
#include "patch_dense.h"
#include "patch_fixture.h"

#define W 53
#define H 41
#define BANDS 5
#define K 4
#define P 7

static const int holes[] = {0, 0, 20, 26, 20, 27, 40, 52, 10, 3};
#define NHOLES 5

static const char *scene(void)
{
    static bool made;
    const char *path = fixture_path("scene.tif");
    if (!made)
        fixture_random_scene(path, W, H, BANDS, 3, holes, NHOLES);
    made = true;
    return path;
}

/* The map, confidence and probability rasters read back: labels int32, the others float. */
typedef struct outputs {
    int32_t labels[W * H];
    float conf[W * H];
    float probs[W * H * K];
} outputs;

static void read_outputs(const char *map, const char *conf, const char *probs, outputs *o)
{
    cn_raster *r;
    CHECK_OK(cn_raster_open(map, &r));
    CHECK_OK(cn_raster_read_labels(r, 0, 0, W, H, o->labels));
    cn_raster_close(r);
    CHECK_OK(cn_raster_open(conf, &r));
    CHECK_OK(cn_raster_read(r, 0, 0, W, H, o->conf, NULL));
    cn_raster_close(r);
    CHECK_OK(cn_raster_open(probs, &r));
    CHECK_OK(cn_raster_read(r, 0, 0, W, H, o->probs, NULL));
    cn_raster_close(r);
}

/* Classifies the scene with tile side tile (0: one tile) and RAM budget ram; reads it back. */
static void classify(cn_model *m, int tile, int ram, const char *tag, outputs *o)
{
    char map[64], conf[64], probs[64];
    snprintf(map, sizeof map, "map_%s.tif", tag);
    snprintf(conf, sizeof conf, "conf_%s.tif", tag);
    snprintf(probs, sizeof probs, "probs_%s.tif", tag);
    cn_classify_options opt = {.tile = tile, .ram_mb = ram, .confidence = fixture_path(conf),
                               .probabilities = fixture_path(probs)};
    CHECK_OK(cn_classify(scene(), m, fixture_path(map), &opt));
    read_outputs(fixture_path(map), fixture_path(conf), fixture_path(probs), o);
}

/* The channels of the network's per-pixel head: fewer than the bands, the predictor runs the head
 * over the window before cutting patches (patch_head.h); more, the head stays in the network. The
 * map tests run with both. */
static int head_width;

static cn_model *model(void)
{
    cn_layer *net = fixture_cnn_width(BANDS, head_width, K, 7);
    cn_model *m = fixture_patch_model(net, BANDS, K, P);
    cn_layer_release(net);
    return m;
}

static outputs whole, tiled;

/* How many of the K classes the map shows. */
static int classes_in(const outputs *o)
{
    int seen = 0;
    for (int id = 2; id <= 2 * K; id += 2) {
        int n = 0;
        for (int i = 0; i < W * H; i++)
            n += o->labels[i] == id;
        seen += n > 0;
    }
    return seen;
}

static void the_tiled_map_equals_the_whole_scene_pixel_for_pixel(void)
{
    cn_model *m = model();
    classify(m, 0, 0, "whole", &whole);
    CHECK(classes_in(&whole) >= 3); /* a map worth comparing */
    const int tiles[] = {16, 7, 5, 29};
    for (int t = 0; t < 4; t++) {
        char tag[16];
        snprintf(tag, sizeof tag, "tile%d", tiles[t]);
        classify(m, tiles[t], 0, tag, &tiled);
        CHECK(memcmp(whole.labels, tiled.labels, sizeof whole.labels) == 0);
        CHECK(memcmp(whole.conf, tiled.conf, sizeof whole.conf) == 0);
        CHECK(memcmp(whole.probs, tiled.probs, sizeof whole.probs) == 0);
    }
    cn_model_free(m);
}

static void the_tiled_map_equals_the_whole_scene_with_two_threads(void)
{
    static outputs whole2;
    cn_model *m = model();
    cn_set_threads(2);
    classify(m, 0, 0, "whole2", &whole2);
    classify(m, 13, 0, "tile13", &tiled);
    cn_set_threads(1);
    CHECK(memcmp(whole2.labels, tiled.labels, sizeof whole2.labels) == 0);
    CHECK(memcmp(whole2.probs, tiled.probs, sizeof whole2.probs) == 0);
    /* and the same map as one thread gives */
    CHECK(memcmp(whole2.labels, whole.labels, sizeof whole2.labels) == 0);
    CHECK(memcmp(whole2.probs, whole.probs, sizeof whole2.probs) == 0);
    cn_model_free(m);
}

static void invalid_pixels_are_unclassified_and_their_neighbours_classified(void)
{
    for (int i = 0; i < NHOLES; i++) {
        int at = holes[2 * i] * W + holes[2 * i + 1];
        CHECK(whole.labels[at] == 0 && whole.conf[at] == 0.0f);
        for (int k = 0; k < K; k++)
            CHECK(whole.probs[at * K + k] == -1.0f);
    }
    CHECK(whole.labels[20 * W + 25] != 0 && whole.labels[1 * W + 1] != 0);
    int zeros = 0;
    for (int i = 0; i < W * H; i++)
        zeros += whole.labels[i] == 0;
    CHECK(zeros == NHOLES);
}

/* The class the network gives the training path's patch around (y, x): cn_patches_read and
 * cn_patches_standardize with the model's statistics, then a forward pass. */
static int training_path_class(cn_model *m, cn_raster *r, int y, int x, float *confidence)
{
    int32_t rows[1] = {y}, cols[1] = {x};
    int64_t zero = 0;
    cn_tensor *t;
    cn_tensor_new(1, &zero, &t);
    CHECK_OK(cn_patches_read(r, rows, cols, 1, P, t));
    CHECK_OK(cn_patches_standardize(t, cn_model_get_tensor(m, "norm.mean"),
                                    cn_model_get_tensor(m, "norm.std")));
    cn_tensor *out;
    CHECK_OK(cn_layer_forward(cn_model_net(m), t, &out));
    const float *s = cn_tensor_cdata(out);
    int best = 0;
    double sum = 0;
    for (int k = 1; k < K; k++)
        if (s[k] > s[best])
            best = k;
    for (int k = 0; k < K; k++)
        sum += exp((double)s[k] - s[best]);
    *confidence = (float)(1.0 / sum);
    cn_tensor_release(t);
    return 2 * best + 2;
}

static void the_map_agrees_with_the_network_on_training_patches(void)
{
    cn_model *m = model();
    cn_raster *r;
    CHECK_OK(cn_raster_open(scene(), &r));
    /* corners, edges, next to holes (20, 25), (1, 1) next to the hole at (0, 0), inside */
    const int at[][2] = {{1, 1}, {0, 52}, {40, 0}, {40, 51}, {20, 25}, {21, 27}, {13, 30}, {5, 17}};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        float c;
        int id = training_path_class(m, r, at[i][0], at[i][1], &c);
        int p = at[i][0] * W + at[i][1];
        CHECK(id == whole.labels[p]);
        CHECK_NEAR(c, whole.conf[p], 1e-5);
    }
    cn_raster_close(r);
    cn_model_free(m);
}

static void a_saved_patch_model_classifies_the_same(void)
{
    cn_model *m = model(), *back;
    const char *path = fixture_path("patch.cropnet");
    CHECK_OK(cn_model_save(m, path));
    CHECK_OK(cn_model_load(path, &back));
    classify(back, 20, 0, "loaded", &tiled);
    CHECK(memcmp(whole.labels, tiled.labels, sizeof whole.labels) == 0);
    CHECK(memcmp(whole.probs, tiled.probs, sizeof whole.probs) == 0);
    cn_model_free(back);
    cn_model_free(m);
}

static void a_pixels_result_does_not_depend_on_its_window(void)
{
    cn_model *m = model();
    cn_patch_model *pm;
    CHECK_OK(cn_patch_model_open(m, &pm));
    CHECK(cn_patch_model_patch(pm) == P && cn_patch_model_receptive_field(pm) == P &&
          cn_patch_model_bands(pm) == BANDS && cn_patch_model_max_id(pm) == 2 * K);
    cn_raster *r;
    CHECK_OK(cn_raster_open(scene(), &r));
    /* a 5 x 3 window at (x 30, y 12), and the single pixel (x 32, y 13) on its own */
    static float px[(5 + P - 1) * (3 + P - 1) * BANDS];
    uint8_t valid[(5 + P - 1) * (3 + P - 1)];
    int32_t ids[15], one;
    float probs[15 * K], p1[K];
    CHECK_OK(cn_raster_read_reflect(r, 30 - P / 2, 12 - P / 2, 5 + P - 1, 3 + P - 1, px, valid));
    CHECK_OK(cn_patch_model_predict(pm, px, valid, 5, 3, ids, NULL, probs));
    CHECK_OK(cn_raster_read_reflect(r, 32 - P / 2, 13 - P / 2, P, P, px, valid));
    CHECK_OK(cn_patch_model_predict(pm, px, valid, 1, 1, &one, NULL, p1));
    CHECK(one == ids[1 * 5 + 2] && one == whole.labels[13 * W + 32]);
    CHECK(memcmp(p1, probs + (1 * 5 + 2) * K, sizeof p1) == 0);
    cn_raster_close(r);
    cn_patch_model_close(pm);
    cn_model_free(m);
}

/* Shared convolutions (patch_dense.h) on and off give the same maps, bit for bit, for the
 * fixture net and for a stack of three convolutions (dilated, padded and not, 70 channels, one
 * with no position shared); on a CPU without AVX-512 both runs take the same path. */
static void sharing_convolutions_between_patches_changes_nothing(void)
{
    static outputs on, off;
    for (int which = 0; which < 2; which++) {
        cn_model *m = model();
        if (which == 1) {
            cn_model_free(m);
            cn_layer *net = fixture_cnn_stack(BANDS, K, 11);
            m = fixture_patch_model(net, BANDS, K, P);
            cn_layer_release(net);
        }
        const int tiles[] = {0, 7};
        for (int t = 0; t < 2; t++) {
            cn_patch_dense_disable(false);
            classify(m, tiles[t], 0, "shared", &on);
            cn_patch_dense_disable(true);
            classify(m, tiles[t], 0, "unshared", &off);
            cn_patch_dense_disable(false);
            CHECK(memcmp(on.labels, off.labels, sizeof on.labels) == 0);
            CHECK(memcmp(on.conf, off.conf, sizeof on.conf) == 0);
            CHECK(memcmp(on.probs, off.probs, sizeof on.probs) == 0);
            if (which == 0)
                CHECK(memcmp(on.probs, whole.probs, sizeof on.probs) == 0);
        }
        CHECK(classes_in(&on) >= 2); /* a map worth comparing */
        cn_model_free(m);
    }
}

/* Opens m as a patch model expecting failure st with text in the message. */
static void refused(cn_model *m, cn_status st, const char *text)
{
    cn_patch_model *pm = NULL;
    cn_status got = cn_patch_model_open(m, &pm);
    CHECK(got == st && pm == NULL);
    if (!strstr(cn_last_error(), text)) {
        fprintf(stderr, "  message: %s (expected '%s')\n", cn_last_error(), text);
        CHECK(!"message");
    }
}

static void bad_patch_models_are_refused_with_the_reason(void)
{
    cn_model *m = model();
    cn_model_set_meta(m, "patch", "6");
    refused(m, CN_EFORMAT, "even side");
    cn_model_set_meta(m, "patch", "7");
    cn_model_set_meta(m, "receptive_field", "9");
    refused(m, CN_EFORMAT, "\"receptive_field\" is '9', expected an integer in 1..7");
    cn_model_set_meta(m, "receptive_field", "7");
    cn_model_set_meta(m, "classes", "[{\"id\": 1}, {\"id\": 2}]");
    refused(m, CN_EFORMAT, "output for one patch is (1 x 4), but \"classes\" lists 2");
    cn_model_set_meta(m, "input", "pixel");
    refused(m, CN_EINVAL, "is not a patch model");
    cn_model_free(m);
    /* a per-pixel network where a patch one is expected */
    float w[BANDS * K] = {0}, b[K] = {0};
    cn_layer *lin = fixture_linear(BANDS, K, w, b);
    m = fixture_patch_model(lin, BANDS, K, P);
    refused(m, CN_EFORMAT, "does not take a (1 x 5 x 7 x 7) patch");
    cn_layer_release(lin);
    cn_model_free(m);
    /* and a patch model where a per-pixel one is expected, by the per-pixel predictor */
    m = model();
    cn_pixel_model *pix = NULL;
    CHECK(cn_pixel_model_open(m, &pix) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "cropnet classify") != NULL);
    cn_model_free(m);
}

static void a_model_of_another_input_kind_is_refused_by_classify(void)
{
    cn_model *m = model();
    cn_model_set_meta(m, "input", "sequence");
    const char *map = fixture_path("sequence.tif");
    CHECK(cn_classify(scene(), m, map, NULL) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "\"input\" is \"sequence\"") != NULL);
    CHECK(!fixture_exists(map));
    cn_model_free(m);
}

static void a_patch_model_refuses_an_image_of_other_bands_and_leaves_nothing(void)
{
    cn_layer *net = fixture_cnn(BANDS + 1, K, 7);
    cn_model *m = fixture_patch_model(net, BANDS + 1, K, P);
    cn_layer_release(net);
    const char *map = fixture_path("refused.tif");
    CHECK(cn_classify(scene(), m, map, NULL) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "has 5 bands, the model expects 6") != NULL);
    CHECK(!fixture_exists(map));
    cn_model_free(m);
}

int main(void)
{
    fixture_init("patch_classify");
    const int widths[] = {BANDS - 1, BANDS + 1};
    for (int i = 0; i < 2; i++) {
        head_width = widths[i];
        fprintf(stderr, "-- a per-pixel head of %d channels, %d bands\n", head_width, BANDS);
        RUN(the_tiled_map_equals_the_whole_scene_pixel_for_pixel);
        RUN(the_tiled_map_equals_the_whole_scene_with_two_threads);
        RUN(invalid_pixels_are_unclassified_and_their_neighbours_classified);
        RUN(the_map_agrees_with_the_network_on_training_patches);
        RUN(a_saved_patch_model_classifies_the_same);
        RUN(a_pixels_result_does_not_depend_on_its_window);
        RUN(sharing_convolutions_between_patches_changes_nothing);
    }
    RUN(bad_patch_models_are_refused_with_the_reason);
    RUN(a_model_of_another_input_kind_is_refused_by_classify);
    RUN(a_patch_model_refuses_an_image_of_other_bands_and_leaves_nothing);
    return CHECK_EXIT();
}
