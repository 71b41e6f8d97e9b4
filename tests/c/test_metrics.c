/*
 * test_metrics.c — confusion matrices and accuracy figures against hand-computed values, and
 * the confusion of a map against a reference raster.
 */
#include "check.h"
#include "label_fixture.h"

/* Figures computed by hand below each matrix. */
static void off_diagonal_heavy_matrix(void)
{
    /* rows = reference 1, 2, 3; columns = predicted 1, 2, 3
     *   2 3 5 | 10      total 30, diagonal 7, OA = 7/30
     *   4 1 3 |  8      recall 2/10, 1/8, 4/12; AA = (0.2 + 0.125 + 1/3) / 3
     *   2 6 4 | 12      precision 2/8, 1/10, 4/12
     *   8 10 12         pe = (10·8 + 8·10 + 12·12) / 900 = 304/900
     *                   kappa = (210/900 - 304/900) / (596/900) = -94/596 */
    int ids[] = {1, 2, 3};
    int64_t counts[] = {2, 3, 5, 4, 1, 3, 2, 6, 4};
    cn_confusion c;
    cn_metrics m;
    CHECK_OK(cn_confusion_new(ids, 3, ids, 3, counts, &c));
    CHECK_OK(cn_metrics_compute(&c, &m));
    CHECK(m.total == 30);
    CHECK_NEAR(m.oa, 7.0 / 30, 1e-12);
    CHECK_NEAR(m.aa, (0.2 + 0.125 + 1.0 / 3) / 3, 1e-12);
    CHECK_NEAR(m.kappa, -94.0 / 596, 1e-12);
    CHECK_NEAR(m.classes[0].precision, 0.25, 1e-12);
    CHECK_NEAR(m.classes[1].precision, 0.1, 1e-12);
    CHECK_NEAR(m.classes[2].precision, 1.0 / 3, 1e-12);
    CHECK_NEAR(m.classes[0].recall, 0.2, 1e-12);
    CHECK_NEAR(m.classes[1].recall, 0.125, 1e-12);
    CHECK_NEAR(m.classes[0].f1, 2 * 0.25 * 0.2 / 0.45, 1e-12);
    CHECK_NEAR(m.classes[1].f1, 2 * 0.1 * 0.125 / 0.225, 1e-12);
    CHECK_NEAR(m.classes[2].f1, 1.0 / 3, 1e-12);
    CHECK(m.classes[0].support == 10 && m.classes[1].support == 8 && m.classes[2].support == 12);
    cn_metrics_free(&m);
    cn_confusion_free(&c);
}

static void perfect_matrix(void)
{
    int ids[] = {4, 9};
    int64_t counts[] = {5, 0, 0, 7};
    cn_confusion c;
    cn_metrics m;
    CHECK_OK(cn_confusion_new(ids, 2, ids, 2, counts, &c));
    CHECK_OK(cn_metrics_compute(&c, &m));
    CHECK(m.oa == 1 && m.aa == 1 && m.kappa == 1);
    for (int i = 0; i < 2; i++)
        CHECK(m.classes[i].precision == 1 && m.classes[i].recall == 1 && m.classes[i].f1 == 1);
    cn_metrics_free(&m);
    cn_confusion_free(&c);
}

/* Wikipedia's worked example of Cohen's kappa: 50 items, 20 + 15 agreements, po = 0.7, pe =
 * 0.5·0.6 + 0.5·0.4 = 0.5, kappa = 0.4. */
static void kappa_matches_the_textbook_example(void)
{
    int ids[] = {1, 2};
    int64_t counts[] = {20, 5, 10, 15};
    cn_confusion c;
    cn_metrics m;
    CHECK_OK(cn_confusion_new(ids, 2, ids, 2, counts, &c));
    CHECK_OK(cn_metrics_compute(&c, &m));
    CHECK_NEAR(m.oa, 0.7, 1e-12);
    CHECK_NEAR(m.kappa, 0.4, 1e-12);
    cn_metrics_free(&m);
    cn_confusion_free(&c);
}

/* Columns beyond the reference classes (a predicted-only id 9, unclassified 0) are misses:
 *   6 1 2 1 | 10     OA 14/20, recall 0.6 and 0.8, precision 6/8 and 8/9
 *   2 8 0 0 | 10     pe = (10·8 + 10·9) / 400 = 0.425, kappa = 0.275 / 0.575 */
static void extra_columns_count_as_misses(void)
{
    int ids[] = {1, 2}, cols[] = {1, 2, 9, 0};
    int64_t counts[] = {6, 1, 2, 1, 2, 8, 0, 0};
    cn_confusion c;
    cn_metrics m;
    CHECK_OK(cn_confusion_new(ids, 2, cols, 4, counts, &c));
    CHECK_OK(cn_metrics_compute(&c, &m));
    CHECK_NEAR(m.oa, 0.7, 1e-12);
    CHECK_NEAR(m.aa, 0.7, 1e-12);
    CHECK_NEAR(m.classes[0].precision, 0.75, 1e-12);
    CHECK_NEAR(m.classes[1].precision, 8.0 / 9, 1e-12);
    CHECK_NEAR(m.kappa, 0.275 / 0.575, 1e-12);
    cn_metrics_free(&m);
    cn_confusion_free(&c);
}

static void a_class_never_predicted_has_precision_and_f1_zero(void)
{
    int ids[] = {1, 2};
    int64_t counts[] = {3, 0, 2, 0};
    cn_confusion c;
    cn_metrics m;
    CHECK_OK(cn_confusion_new(ids, 2, ids, 2, counts, &c));
    CHECK_OK(cn_metrics_compute(&c, &m));
    CHECK(m.classes[1].precision == 0 && m.classes[1].recall == 0 && m.classes[1].f1 == 0);
    CHECK(m.classes[0].precision == 0.6 && m.classes[0].recall == 1);
    cn_metrics_free(&m);
    cn_confusion_free(&c);
}

static void columns_must_start_with_the_classes(void)
{
    int ids[] = {1, 2}, cols[] = {2, 1};
    int64_t counts[] = {1, 0, 0, 1};
    cn_confusion c;
    CHECK(cn_confusion_new(ids, 2, cols, 2, counts, &c) == CN_EINVAL);
    CHECK(c.counts == NULL);
}

/* A 4 × 3 reference and map:
 *   reference  1 1 2 0      map  1 2 2 5
 *              1 3 2 2           0 3 2 2
 *              0 3 3 7           4 1 3 7 */
static void make_pair(double map_x0)
{
    int ref[] = {1, 1, 2, 0, 1, 3, 2, 2, 0, 3, 3, 7};
    int map[] = {1, 2, 2, 5, 0, 3, 2, 2, 4, 1, 3, 7};
    const char *names[] = {"unclassified", "wheat", "maize", "barley", "", "", "", "oats", NULL};
    lf_labels(lf_path("ref.tif"), 4, 3, ref, 500000, names);
    lf_labels(lf_path("map.tif"), 4, 3, map, map_x0, NULL);
}

static void confusion_from_rasters_counts_reference_pixels(void)
{
    make_pair(500000);
    cn_confusion c;
    CHECK_OK(cn_confusion_from_rasters(lf_path("map.tif"), lf_path("ref.tif"), &c));
    /* rows 1, 2, 3, 7; columns 1, 2, 3, 7, then 0 (the unclassified reference pixel); the map's
     * 4 and 5 fall on unlabelled reference pixels and are skipped */
    CHECK(c.nclasses == 4 && c.ncols == 5);
    int want_cols[] = {1, 2, 3, 7, 0};
    for (size_t i = 0; i < 5 && i < c.ncols; i++)
        CHECK(c.predicted_ids[i] == want_cols[i]);
    int64_t want[] = {1, 1, 0, 0, 1, /* 1 */ 0, 3, 0, 0, 0, /* 2 */ 1, 0, 2, 0, 0, /* 3 */
                      0, 0, 0, 1, 0 /* 7 */};
    for (size_t i = 0; i < 20 && c.counts; i++)
        CHECK(c.counts[i] == want[i]);
    CHECK(strcmp(c.classes[0].name, "wheat") == 0 && strcmp(c.classes[3].name, "oats") == 0);
    CHECK(c.classes[2].rgb[0] == 3 && c.classes[2].rgb[1] == 6 && c.classes[2].rgb[2] == 9);
    cn_metrics m;
    CHECK_OK(cn_metrics_compute(&c, &m));
    CHECK_NEAR(m.oa, 7.0 / 10, 1e-12);
    cn_metrics_free(&m);
    cn_confusion_free(&c);
}

static void predicted_only_ids_become_extra_columns(void)
{
    int ref[] = {1, 1, 2, 2};
    int map[] = {1, 6, 2, 2};
    lf_labels(lf_path("ref.tif"), 2, 2, ref, 500000, NULL);
    lf_labels(lf_path("map.tif"), 2, 2, map, 500000, NULL);
    cn_confusion c;
    CHECK_OK(cn_confusion_from_rasters(lf_path("map.tif"), lf_path("ref.tif"), &c));
    CHECK(c.nclasses == 2 && c.ncols == 3 && c.predicted_ids[2] == 6);
    CHECK(c.counts[2] == 1 && c.counts[0] == 1);
    cn_confusion_free(&c);
}

static void a_map_on_another_grid_is_refused(void)
{
    make_pair(500010);
    cn_confusion c;
    CHECK(cn_confusion_from_rasters(lf_path("map.tif"), lf_path("ref.tif"), &c) == CN_EINVAL);
    CHECK(lf_error_has("map.tif: different georeference from the reference"));
    int ids[] = {1, 1, 1, 1, 1, 1};
    lf_labels(lf_path("map.tif"), 3, 2, ids, 500000, NULL);
    CHECK(cn_confusion_from_rasters(lf_path("map.tif"), lf_path("ref.tif"), &c) == CN_EINVAL);
    CHECK(lf_error_has("map.tif: is 3 x 2, the reference"));
    CHECK(lf_error_has("ref.tif is 4 x 3"));
}

static void a_reference_without_labels_is_refused(void)
{
    int zero[] = {0, 0, 0, 0};
    lf_labels(lf_path("ref.tif"), 2, 2, zero, 500000, NULL);
    lf_labels(lf_path("map.tif"), 2, 2, zero, 500000, NULL);
    cn_confusion c;
    CHECK(cn_confusion_from_rasters(lf_path("map.tif"), lf_path("ref.tif"), &c) == CN_EINVAL);
    CHECK(lf_error_has("ref.tif: has no labelled pixel"));
}

static void a_missing_map_is_refused(void)
{
    make_pair(500000);
    cn_confusion c;
    CHECK(cn_confusion_from_rasters(lf_path("nope.tif"), lf_path("ref.tif"), &c) == CN_EIO);
    CHECK(lf_error_has("nope.tif: no such file"));
}

int main(void)
{
    lf_init("metrics.scratch");
    RUN(off_diagonal_heavy_matrix);
    RUN(perfect_matrix);
    RUN(kappa_matches_the_textbook_example);
    RUN(extra_columns_count_as_misses);
    RUN(a_class_never_predicted_has_precision_and_f1_zero);
    RUN(columns_must_start_with_the_classes);
    RUN(confusion_from_rasters_counts_reference_pixels);
    RUN(predicted_only_ids_become_extra_columns);
    RUN(a_map_on_another_grid_is_refused);
    RUN(a_reference_without_labels_is_refused);
    RUN(a_missing_map_is_refused);
    return CHECK_EXIT();
}
