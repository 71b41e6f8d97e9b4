/*
 * test_split.c — the stratified, seeded train/test split: proportions, counts, reproducibility,
 * disjointness, whole blocks, the buffer, refusals and atomic outputs.
 */
#include "check.h"
#include "cn_labels.h"
#include "label_fixture.h"

#define W 40
#define H 30

static int labels[W * H];

/* Class 1: the left half (600 pixels); 2: top right (400); 3: bottom right, columns 20..29
 * (100); 4: one pixel; 5: three pixels; 0 elsewhere. */
static void make_labels(void)
{
    const char *outputs[] = {"train.tif", "train.tif.aux.xml", "test.tif", "test.tif.aux.xml"};
    for (size_t i = 0; i < 4; i++)
        unlink(lf_path(outputs[i]));
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++)
            labels[r * W + c] = c < 20 ? 1 : r < 20 ? 2 : c < 30 ? 3 : 0;
    labels[25 * W + 35] = 4;
    labels[22 * W + 32] = labels[27 * W + 38] = labels[29 * W + 31] = 5;
    const char *names[] = {"unclassified", "wheat", "maize", "barley", "rape", "oats", NULL};
    lf_labels(lf_path("labels.tif"), W, H, labels, 500000, names);
}

static int train[W * H], test[W * H];

static bool split(const cn_split_options *o, cn_split_result *r)
{
    cn_status st = cn_split_labels(lf_path("labels.tif"), lf_path("train.tif"), lf_path("test.tif"),
                                   o, r);
    if (st) {
        fprintf(stderr, "split: %s\n", cn_last_error());
        return false;
    }
    return lf_read(lf_path("train.tif"), W, H, train) && lf_read(lf_path("test.tif"), W, H, test);
}

static int count_id(const int *ids, int id)
{
    int n = 0;
    for (int i = 0; i < W * H; i++)
        n += ids[i] == id;
    return n;
}

/* Every output pixel keeps its label, and no pixel is on both sides. */
static void check_disjoint_and_faithful(void)
{
    for (int i = 0; i < W * H; i++) {
        CHECK(!(train[i] && test[i]));
        CHECK(train[i] == 0 || train[i] == labels[i]);
        CHECK(test[i] == 0 || test[i] == labels[i]);
    }
}

static void a_fraction_is_taken_from_each_class(void)
{
    make_labels();
    cn_split_options o = {.train_fraction = 0.1, .seed = 1};
    cn_split_result r;
    CHECK(split(&o, &r));
    /* round(0.1 n): 60, 40, 10; one pixel: round(0.1) = 0; three pixels: at least 1 */
    CHECK(count_id(train, 1) == 60 && count_id(test, 1) == 540);
    CHECK(count_id(train, 2) == 40 && count_id(test, 2) == 360);
    CHECK(count_id(train, 3) == 10 && count_id(test, 3) == 90);
    CHECK(count_id(train, 4) == 0 && count_id(test, 4) == 1);
    CHECK(count_id(train, 5) == 1 && count_id(test, 5) == 2);
    check_disjoint_and_faithful();
    CHECK(r.nclasses == 5 && r.train == 111 && r.test == 993 && r.dropped == 0);
    CHECK(r.classes[0].id == 1 && r.classes[0].labelled == 600 && r.classes[0].train == 60);
    cn_split_result_free(&r);
}

static void the_default_fraction_is_five_percent(void)
{
    make_labels();
    cn_split_options o = {.seed = 1};
    CHECK(split(&o, NULL));
    CHECK(count_id(train, 1) == 30 && count_id(train, 2) == 20 && count_id(train, 3) == 5);
}

static void per_class_takes_exactly_that_many(void)
{
    make_labels();
    labels[25 * W + 35] = 3; /* no single-pixel class */
    labels[22 * W + 32] = labels[27 * W + 38] = labels[29 * W + 31] = 3;
    lf_labels(lf_path("labels.tif"), W, H, labels, 500000, NULL);
    cn_split_options o = {.per_class = 4, .seed = 3};
    CHECK(split(&o, NULL));
    for (int id = 1; id <= 3; id++)
        CHECK(count_id(train, id) == 4);
    CHECK(count_id(test, 3) == 100);
    check_disjoint_and_faithful();
}

static void the_same_seed_gives_the_same_split(void)
{
    make_labels();
    static int first[W * H];
    cn_split_options o = {.train_fraction = 0.2, .seed = 42};
    CHECK(split(&o, NULL));
    memcpy(first, train, sizeof first);
    CHECK(split(&o, NULL));
    CHECK(memcmp(first, train, sizeof first) == 0);
    o.seed = 43;
    CHECK(split(&o, NULL));
    CHECK(memcmp(first, train, sizeof first) != 0);
}

static void strips_do_not_change_the_split(void)
{
    make_labels();
    static int first[W * H], first_test[W * H];
    cn_split_options o = {.train_fraction = 0.3, .seed = 7, .block = 7, .buffer = 1};
    CHECK(split(&o, NULL));
    memcpy(first, train, sizeof first);
    memcpy(first_test, test, sizeof first_test);
    cn_strip_budget_set(1);
    CHECK(split(&o, NULL));
    cn_strip_budget_set(0);
    CHECK(memcmp(first, train, sizeof first) == 0 && memcmp(first_test, test, sizeof test) == 0);
}

static void blocks_are_never_divided(void)
{
    make_labels();
    int b = 8;
    cn_split_options o = {.train_fraction = 0.25, .seed = 5, .block = b};
    CHECK(split(&o, NULL));
    check_disjoint_and_faithful();
    for (int by = 0; by < H; by += b)
        for (int bx = 0; bx < W; bx += b) {
            int tr = 0, te = 0;
            for (int r = by; r < by + b && r < H; r++)
                for (int c = bx; c < bx + b && c < W; c++) {
                    tr += train[r * W + c] != 0;
                    te += test[r * W + c] != 0;
                }
            CHECK(tr == 0 || te == 0);
        }
    /* classes 1 and 2 are the majority of several blocks each: both sides get some */
    CHECK(count_id(train, 1) > 0 && count_id(test, 1) > 0);
    CHECK(count_id(train, 2) > 0 && count_id(test, 2) > 0);
}

static void block_mode_reaches_each_class_target(void)
{
    make_labels();
    /* blocks of 10: class 1 fills 6 blocks of 100, class 2 four, class 3 one. Fraction 0.3:
     * class 1 wants 180 pixels (2 blocks), class 2 wants 120 (2 blocks) */
    cn_split_options o = {.train_fraction = 0.3, .seed = 9, .block = 10};
    CHECK(split(&o, NULL));
    CHECK(count_id(train, 1) == 200 && count_id(train, 2) == 200);
    CHECK(count_id(train, 3) == 100); /* one block: training where possible */
}

static void a_buffer_keeps_test_pixels_away_from_training_pixels(void)
{
    make_labels();
    int rad = 2;
    cn_split_options o = {.train_fraction = 0.05, .seed = 11, .buffer = rad};
    cn_split_result res;
    CHECK(split(&o, &res));
    check_disjoint_and_faithful();
    int dropped = 0;
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++) {
            if (!labels[r * W + c] || train[r * W + c])
                continue;
            bool near = false;
            for (int dr = -rad; dr <= rad; dr++)
                for (int dc = -rad; dc <= rad; dc++) {
                    int rr = r + dr, cc = c + dc;
                    near |= rr >= 0 && rr < H && cc >= 0 && cc < W && train[rr * W + cc];
                }
            CHECK(near == (test[r * W + c] == 0)); /* dropped exactly when near */
            dropped += near;
        }
    CHECK(dropped > 0 && res.dropped == dropped);
    cn_split_result_free(&res);
}

static void a_class_with_too_few_pixels_is_refused(void)
{
    make_labels();
    cn_split_options o = {.per_class = 20, .seed = 1};
    CHECK(cn_split_labels(lf_path("labels.tif"), lf_path("train.tif"), lf_path("test.tif"), &o,
                          NULL) == CN_EINVAL);
    CHECK(lf_error_has("labels.tif: class 4 has 1 labelled pixels, fewer than the 20 asked "
                       "(--per-class)"));
}

static void failure_leaves_neither_output(void)
{
    make_labels();
    int before = lf_count_files();
    cn_split_options o = {.per_class = 20, .seed = 1};
    CHECK(cn_split_labels(lf_path("labels.tif"), lf_path("train.tif"), lf_path("test.tif"), &o,
                          NULL) != CN_OK);
    CHECK(!lf_exists(lf_path("train.tif")) && !lf_exists(lf_path("test.tif")));
    /* the test output's folder does not exist: the train output must not appear either */
    o.per_class = 0;
    CHECK(cn_split_labels(lf_path("labels.tif"), lf_path("train.tif"), lf_path("no/test.tif"), &o,
                          NULL) == CN_EIO);
    CHECK(!lf_exists(lf_path("train.tif")));
    CHECK(lf_count_files() == before); /* no temporary left behind */
}

static void an_existing_output_survives_a_failure(void)
{
    make_labels();
    FILE *f = fopen(lf_path("train.tif"), "w");
    fputs("keep me", f);
    fclose(f);
    int zero[W * H] = {0};
    lf_labels(lf_path("empty.tif"), W, H, zero, 500000, NULL);
    cn_split_options o = {.seed = 1};
    CHECK(cn_split_labels(lf_path("empty.tif"), lf_path("train.tif"), lf_path("test.tif"), &o,
                          NULL) == CN_EINVAL);
    CHECK(lf_error_has("empty.tif: has no labelled pixel"));
    char buf[16] = "";
    f = fopen(lf_path("train.tif"), "r");
    CHECK(f && fgets(buf, sizeof buf, f) && strcmp(buf, "keep me") == 0);
    if (f)
        fclose(f);
}

static void outputs_keep_grid_colours_and_names(void)
{
    make_labels();
    cn_split_options o = {.seed = 1};
    CHECK(split(&o, NULL));
    GDALDatasetH ds = GDALOpen(lf_path("test.tif"), GA_ReadOnly);
    CHECK(ds != NULL);
    if (!ds)
        return;
    double gt[6];
    CHECK(GDALGetGeoTransform(ds, gt) == CE_None && gt[0] == 500000 && gt[1] == 10 && gt[5] == -10);
    CHECK(strstr(GDALGetProjectionRef(ds), "32633") != NULL);
    GDALRasterBandH band = GDALGetRasterBand(ds, 1);
    CHECK(GDALGetRasterDataType(band) == GDT_Byte);
    int has = 0;
    CHECK(GDALGetRasterNoDataValue(band, &has) == 0 && has);
    char **names = GDALGetRasterCategoryNames(band);
    CHECK(names && CSLCount(names) >= 6 && strcmp(names[3], "barley") == 0);
    GDALColorTableH ct = GDALGetRasterColorTable(band);
    const GDALColorEntry *e = ct ? GDALGetColorEntry(ct, 5) : NULL;
    CHECK(e && e->c1 == 5 && e->c2 == 10 && e->c3 == 15);
    GDALClose(ds);
}

static void outputs_equal_to_the_input_or_each_other_are_refused(void)
{
    make_labels();
    cn_split_options o = {.seed = 1};
    CHECK(cn_split_labels(lf_path("labels.tif"), lf_path("labels.tif"), lf_path("test.tif"), &o,
                          NULL) == CN_EINVAL);
    CHECK(lf_error_has("the output path is also an input"));
    CHECK(cn_split_labels(lf_path("labels.tif"), lf_path("a.tif"), lf_path("a.tif"), &o, NULL)
          == CN_EINVAL);
    CHECK(!lf_exists(lf_path("a.tif")) && !lf_exists(lf_path("test.tif")));
}

static void bad_options_are_refused(void)
{
    make_labels();
    cn_split_options o = {.train_fraction = 1.5};
    CHECK(cn_split_labels(lf_path("labels.tif"), lf_path("train.tif"), lf_path("test.tif"), &o,
                          NULL) == CN_EINVAL);
    CHECK(lf_error_has("fraction must be in (0, 1)"));
}

static int cancel_at_half(double fraction, const char *msg, void *data)
{
    (void)msg;
    (void)data;
    return fraction < 0.5;
}

static void a_cancelled_split_leaves_nothing(void)
{
    make_labels();
    int before = lf_count_files();
    cn_split_options o = {.seed = 1, .progress = cancel_at_half};
    CHECK(cn_split_labels(lf_path("labels.tif"), lf_path("train.tif"), lf_path("test.tif"), &o,
                          NULL) == CN_ECANCELLED);
    CHECK(lf_count_files() == before);
}

int main(void)
{
    lf_init("split.scratch");
    RUN(a_fraction_is_taken_from_each_class);
    RUN(the_default_fraction_is_five_percent);
    RUN(per_class_takes_exactly_that_many);
    RUN(the_same_seed_gives_the_same_split);
    RUN(strips_do_not_change_the_split);
    RUN(blocks_are_never_divided);
    RUN(block_mode_reaches_each_class_target);
    RUN(a_buffer_keeps_test_pixels_away_from_training_pixels);
    RUN(a_class_with_too_few_pixels_is_refused);
    RUN(failure_leaves_neither_output);
    RUN(an_existing_output_survives_a_failure);
    RUN(outputs_keep_grid_colours_and_names);
    RUN(outputs_equal_to_the_input_or_each_other_are_refused);
    RUN(bad_options_are_refused);
    RUN(a_cancelled_split_leaves_nothing);
    return CHECK_EXIT();
}
