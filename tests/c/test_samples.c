/*
 * test_samples.c — labelled pixels read from an image and a label raster, and band statistics.
 */
#include "check.h"
#include "cn_labels.h"
#include "label_fixture.h"

#include <math.h>

/* A 4 × 3 image of 2 bands: pixel (r, c) has bands (10r + c, -(10r + c)); pixel (1, 1) is
 * nodata (-9999) and (2, 0) has a NaN. Labels:
 *   5 0 2 0
 *   2 5 0 9
 *   5 0 0 2      (9 has a single pixel) */
static void make_scene(void)
{
    double v[4 * 3 * 2];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) {
            v[(r * 4 + c) * 2] = 10 * r + c;
            v[(r * 4 + c) * 2 + 1] = -(10 * r + c);
        }
    v[(1 * 4 + 1) * 2 + 1] = -9999;
    v[(2 * 4 + 0) * 2] = NAN;
    lf_image(lf_path("img.tif"), 4, 3, 2, GDT_Float32, v, 500000, true, -9999);
    int ids[] = {5, 0, 2, 0, 2, 5, 0, 9, 5, 0, 0, 2};
    const char *names[] = {"unclassified", "", "maize", "", "", "wheat", "", "", "", "rape", NULL};
    lf_labels(lf_path("lab.tif"), 4, 3, ids, 500000, names);
}

static void labelled_valid_pixels_become_samples(void)
{
    make_scene();
    cn_samples s;
    CHECK_OK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s));
    /* raster order, without (1, 1) and (2, 0): (0,0)=5 (0,2)=2 (1,0)=2 (1,3)=9 (2,3)=2 */
    CHECK(s.count == 5 && s.bands == 2 && s.skipped == 2);
    CHECK(cn_tensor_dim(s.x, 0) == 5 && cn_tensor_dim(s.x, 1) == 2 && cn_tensor_numel(s.y) == 5);
    int want_r[] = {0, 0, 1, 1, 2}, want_c[] = {0, 2, 0, 3, 3};
    float want_y[] = {1, 0, 0, 2, 0}; /* classes 2, 5, 9 */
    const float *x = cn_tensor_cdata(s.x), *y = cn_tensor_cdata(s.y);
    for (int i = 0; i < 5 && s.count == 5; i++) {
        CHECK(s.rows[i] == want_r[i] && s.cols[i] == want_c[i]);
        CHECK(y[i] == want_y[i]);
        CHECK(x[2 * i] == 10 * want_r[i] + want_c[i] && x[2 * i + 1] == -x[2 * i]);
    }
    cn_samples_free(&s);
}

static void the_class_list_is_sorted_with_names_and_colours(void)
{
    make_scene();
    cn_samples s;
    CHECK_OK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s));
    CHECK(s.nclasses == 3);
    if (s.nclasses == 3) {
        CHECK(s.classes[0].id == 2 && s.classes[1].id == 5 && s.classes[2].id == 9);
        CHECK(strcmp(s.classes[0].name, "maize") == 0 && strcmp(s.classes[2].name, "rape") == 0);
        CHECK(s.classes[1].rgb[0] == 5 && s.classes[1].rgb[1] == 10 && s.classes[1].rgb[2] == 15);
    }
    cn_samples_free(&s);
}

static void a_class_with_only_invalid_pixels_is_left_out(void)
{
    make_scene();
    int ids[] = {0, 0, 0, 0, 0, 7, 0, 0, 3, 0, 0, 0}; /* 7 on the nodata pixel */
    lf_labels(lf_path("lab.tif"), 4, 3, ids, 500000, NULL);
    cn_samples s;
    CHECK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s) == CN_EINVAL);
    CHECK(lf_error_has("none of the 2 labelled pixels is valid")); /* (2, 0) is NaN */
    ids[11] = 3;
    lf_labels(lf_path("lab.tif"), 4, 3, ids, 500000, NULL);
    CHECK_OK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s));
    CHECK(s.count == 1 && s.nclasses == 1 && s.classes[0].id == 3);
    cn_samples_free(&s);
}

static void strips_of_one_row_give_the_same_samples(void)
{
    int w = 37, h = 23, bands = 3;
    double *v = malloc((size_t)w * h * bands * sizeof *v);
    int *ids = malloc((size_t)w * h * sizeof *ids);
    for (int i = 0; i < w * h; i++) {
        for (int b = 0; b < bands; b++)
            v[i * bands + b] = (i * 7 + b * 3) % 101;
        ids[i] = (i * 13) % 5; /* 0 .. 4 */
    }
    lf_image(lf_path("big.tif"), w, h, bands, GDT_Int16, v, 500000, false, 0);
    lf_labels(lf_path("biglab.tif"), w, h, ids, 500000, NULL);
    cn_samples a, b;
    CHECK_OK(cn_samples_from_rasters(lf_path("big.tif"), lf_path("biglab.tif"), &a));
    cn_strip_budget_set(1);
    CHECK_OK(cn_samples_from_rasters(lf_path("big.tif"), lf_path("biglab.tif"), &b));
    cn_strip_budget_set(0);
    CHECK(a.count == b.count && a.count == 680 /* 851 pixels, i % 5 == 0 unlabelled */);
    CHECK(a.count == b.count
          && memcmp(cn_tensor_cdata(a.x), cn_tensor_cdata(b.x),
                    (size_t)a.count * bands * sizeof(float)) == 0);
    CHECK(a.count == b.count && memcmp(a.rows, b.rows, (size_t)a.count * sizeof *a.rows) == 0);
    cn_samples_free(&a);
    cn_samples_free(&b);
    free(v);
    free(ids);
}

static void labels_of_another_size_are_refused(void)
{
    make_scene();
    int ids[5 * 3] = {1};
    lf_labels(lf_path("lab.tif"), 5, 3, ids, 500000, NULL);
    cn_samples s;
    CHECK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s) == CN_EINVAL);
    CHECK(lf_error_has("lab.tif: is 5 x 3, the image "));
    CHECK(lf_error_has("img.tif is 4 x 3"));
    CHECK(s.x == NULL);
}

static void labels_with_another_georeference_are_refused(void)
{
    make_scene();
    int ids[4 * 3] = {1};
    lf_labels(lf_path("lab.tif"), 4, 3, ids, 500010, NULL);
    cn_samples s;
    CHECK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s) == CN_EINVAL);
    CHECK(lf_error_has("lab.tif: different georeference from the image"));
    lf_labels(lf_path("lab.tif"), 4, 3, ids, -1, NULL); /* none at all */
    CHECK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s) == CN_EINVAL);
    CHECK(lf_error_has("different georeference"));
}

static void labels_without_a_labelled_pixel_are_refused(void)
{
    make_scene();
    int ids[4 * 3] = {0};
    lf_labels(lf_path("lab.tif"), 4, 3, ids, 500000, NULL);
    cn_samples s;
    CHECK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s) == CN_EINVAL);
    CHECK(lf_error_has("lab.tif: has no labelled pixel"));
}

static void non_integer_labels_are_refused(void)
{
    make_scene();
    double v[12] = {1, 0, 0, 0, 0, 2.5, 0, 0, 0, 0, 0, 0};
    lf_image(lf_path("lab.tif"), 4, 3, 1, GDT_Float32, v, 500000, false, 0);
    cn_samples s;
    CHECK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s) == CN_EFORMAT);
    CHECK(lf_error_has("lab.tif: label 2.5 at pixel (1, 1): labels must be integers"));
    v[5] = -3;
    lf_image(lf_path("lab.tif"), 4, 3, 1, GDT_Int16, v, 500000, false, 0);
    CHECK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s) == CN_EFORMAT);
    CHECK(lf_error_has("label -3 at pixel (1, 1)"));
}

static void a_label_nodata_value_reads_as_unlabelled(void)
{
    make_scene();
    double v[12] = {255, 255, 255, 255, 255, 4, 255, 255, 255, 255, 255, 255};
    lf_image(lf_path("lab.tif"), 4, 3, 1, GDT_Byte, v, 500000, true, 255);
    cn_samples s;
    /* the only labelled pixel is (1, 1), nodata in the image */
    CHECK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("lab.tif"), &s) == CN_EINVAL);
    CHECK(lf_error_has("none of the 1 labelled pixels is valid in the image"));
}

static void a_multiband_label_raster_is_refused(void)
{
    make_scene();
    cn_samples s;
    CHECK(cn_samples_from_rasters(lf_path("img.tif"), lf_path("img.tif"), &s) == CN_EINVAL);
    CHECK(lf_error_has("img.tif: has 2 bands; a label raster has one"));
}

static void band_stats_are_the_population_mean_and_std(void)
{
    /* column 0: 1, 2, 3, 6 -> mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5; column 1 constant */
    cn_tensor *x, *mean, *std;
    CHECK_OK(cn_tensor_new2(4, 2, &x));
    float v[] = {1, 7, 2, 7, 3, 7, 6, 7};
    memcpy(cn_tensor_data(x), v, sizeof v);
    int64_t one = 1;
    CHECK_OK(cn_tensor_new(1, &one, &mean));
    CHECK_OK(cn_tensor_new(1, &one, &std));
    CHECK_OK(cn_band_stats(x, mean, std));
    CHECK(cn_tensor_numel(mean) == 2 && cn_tensor_numel(std) == 2);
    CHECK_NEAR(cn_tensor_data(mean)[0], 3, 1e-6);
    CHECK_NEAR(cn_tensor_data(std)[0], sqrt(3.5), 1e-6);
    CHECK_NEAR(cn_tensor_data(mean)[1], 7, 0);
    CHECK(cn_tensor_data(std)[1] == 1.0f); /* constant band: 1, not 0 */
    cn_tensor_release(x);
    cn_tensor_release(mean);
    cn_tensor_release(std);
}

static void band_stats_keep_precision_on_large_levels(void)
{
    /* 1e6 + {0, 1}: a float accumulator of squares would lose the spread entirely */
    int64_t n = 100000;
    cn_tensor *x, *mean, *std;
    CHECK_OK(cn_tensor_new2(n, 1, &x));
    for (int64_t i = 0; i < n; i++)
        cn_tensor_data(x)[i] = 1e6f + (float)(i % 2);
    int64_t one = 1;
    CHECK_OK(cn_tensor_new(1, &one, &mean));
    CHECK_OK(cn_tensor_new(1, &one, &std));
    CHECK_OK(cn_band_stats(x, mean, std));
    CHECK_NEAR(cn_tensor_data(mean)[0], 1e6 + 0.5, 1e-6 * 1e6);
    CHECK_NEAR(cn_tensor_data(std)[0], 0.5, 1e-6);
    cn_tensor_release(x);
    cn_tensor_release(mean);
    cn_tensor_release(std);
}

int main(void)
{
    lf_init("samples.scratch");
    RUN(labelled_valid_pixels_become_samples);
    RUN(the_class_list_is_sorted_with_names_and_colours);
    RUN(a_class_with_only_invalid_pixels_is_left_out);
    RUN(strips_of_one_row_give_the_same_samples);
    RUN(labels_of_another_size_are_refused);
    RUN(labels_with_another_georeference_are_refused);
    RUN(labels_without_a_labelled_pixel_are_refused);
    RUN(non_integer_labels_are_refused);
    RUN(a_label_nodata_value_reads_as_unlabelled);
    RUN(a_multiband_label_raster_is_refused);
    RUN(band_stats_are_the_population_mean_and_std);
    RUN(band_stats_keep_precision_on_large_levels);
    return CHECK_EXIT();
}
