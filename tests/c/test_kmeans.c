/*
 * test_kmeans.c — Lloyd's k-means in the core: the fused sgemm kernel against a plain double
 * Lloyd, determinism across thread counts, initialisations, restarts, tolerance, empty clusters,
 * invalid rows, predict, and the refusals of bad input.
 */
#include "check.h"
#include "kmeans_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cn_kmeans_options opts(int k)
{
    cn_kmeans_options o;
    cn_kmeans_defaults(&o);
    o.k = k;
    return o;
}

static void lloyd_matches_a_plain_double_lloyd_from_the_same_centroids(void)
{
    const int64_t n = 3000;
    const int d = 7, k = 5;
    float *x = kfix_blobs(n, d, k, 2.0f, 11, NULL); /* overlapping: several iterations */
    float init[5 * 7], ref[5 * 7];
    for (int j = 0; j < k; j++)
        memcpy(init + j * d, x + (int64_t)(j * 97) * d, sizeof(float) * d);
    memcpy(ref, init, sizeof ref);
    int32_t *ours = malloc(n * sizeof *ours), *theirs = malloc(n * sizeof *theirs);
    double ref_inertia;
    int ref_iter = kfix_lloyd(x, n, d, k, ref, 300, 0, theirs, &ref_inertia);
    cn_kmeans_options o = opts(k);
    o.init = CN_KMEANS_INIT_GIVEN;
    o.init_centroids = init;
    o.tol = 0;
    cn_kmeans *km = NULL;
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, ours, &km));
    CHECK(km && cn_kmeans_iterations(km) == ref_iter);
    CHECK(ref_iter > 3);
    int64_t differ = 0;
    for (int64_t i = 0; i < n; i++)
        differ += ours[i] != theirs[i];
    CHECK(differ == 0);
    for (int i = 0; km && i < k * d; i++)
        CHECK_NEAR(cn_kmeans_centroids(km)[i], ref[i], 1e-4);
    CHECK_NEAR(cn_kmeans_inertia(km) / ref_inertia, 1.0, 1e-6);
    cn_kmeans_free(km);
    free(ours);
    free(theirs);
    free(x);
}

/* Fits with the given thread count and threading; returns the model. */
static cn_kmeans *fit_threads(const float *x, int64_t n, int d, int k, int threads,
                              cn_kmeans_threading how, int32_t *labels)
{
    cn_kmeans_options o = opts(k);
    o.seed = 42;
    o.threads = threads;
    o.threading = how;
    o.n_init = 2;
    cn_kmeans *km = NULL;
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, labels, &km));
    return km;
}

static void same_seed_gives_the_same_bits_whatever_the_thread_count(void)
{
    const int64_t n = 30000; /* several chunks of pixels */
    const int d = 5, k = 6;
    float *x = kfix_blobs(n, d, 8, 3.0f, 5, NULL);
    int32_t *l1 = malloc(n * sizeof *l1), *l3 = malloc(n * sizeof *l3);
    cn_kmeans *a = fit_threads(x, n, d, k, 1, CN_KMEANS_SPLIT_PIXELS, l1);
    cn_kmeans *b = fit_threads(x, n, d, k, 3, CN_KMEANS_SPLIT_PIXELS, l3);
    CHECK(a && b);
    if (a && b) {
        CHECK(memcmp(cn_kmeans_centroids(a), cn_kmeans_centroids(b), sizeof(float) * k * d) == 0);
        CHECK(cn_kmeans_inertia(a) == cn_kmeans_inertia(b));
        CHECK(cn_kmeans_iterations(a) == cn_kmeans_iterations(b));
        CHECK(memcmp(l1, l3, n * sizeof *l1) == 0);
    }
    cn_kmeans_free(a);
    cn_kmeans_free(b);
    free(l1);
    free(l3);
    free(x);
}

static void blas_threading_finds_the_same_clustering(void)
{
    const int64_t n = 20000;
    const int d = 6, k = 4;
    float *x = kfix_blobs(n, d, k, 8.0f, 9, NULL);
    cn_kmeans *a = fit_threads(x, n, d, k, 2, CN_KMEANS_SPLIT_PIXELS, NULL);
    cn_kmeans *b = fit_threads(x, n, d, k, 2, CN_KMEANS_SPLIT_BLAS, NULL);
    CHECK(a && b);
    if (a && b)
        CHECK_NEAR(cn_kmeans_inertia(a) / cn_kmeans_inertia(b), 1.0, 1e-5);
    cn_kmeans_free(a);
    cn_kmeans_free(b);
    free(x);
}

/* Number of distinct truth blobs among the nearest points of the centroids. */
static int blobs_hit(const cn_kmeans *km, const float *x, const int32_t *truth, int64_t n, int d)
{
    int32_t *lab = malloc(n * sizeof *lab);
    int hit[64] = {0}, distinct = 0;
    cn_kmeans_predict(km, x, n, d, 1, lab, NULL, NULL);
    for (int64_t i = 0; i < n; i++) /* which blob each cluster holds */
        hit[lab[i]] |= 1 << truth[i];
    for (int j = 0; j < cn_kmeans_k(km); j++)
        distinct += hit[j] != 0 && (hit[j] & (hit[j] - 1)) == 0; /* exactly one blob */
    free(lab);
    return distinct;
}

static void kmeans_plus_plus_puts_one_centre_in_each_separated_blob(void)
{
    const int64_t n = 5000;
    const int d = 4, k = 7;
    int32_t *truth = malloc(n * sizeof *truth);
    float *x = kfix_blobs(n, d, k, 25.0f, 3, truth);
    cn_kmeans_options o = opts(k);
    o.max_iter = 1; /* as good as the initialisation */
    o.seed = 1;
    cn_kmeans *km = NULL;
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, NULL, &km));
    CHECK(km && blobs_hit(km, x, truth, n, d) == k);
    cn_kmeans_free(km);
    free(truth);
    free(x);
}

static void random_init_starts_from_distinct_pixels(void)
{
    const int64_t n = 50;
    const int d = 1, k = 50; /* every pixel must be taken once */
    float x[50];
    for (int i = 0; i < n; i++)
        x[i] = (float)i;
    cn_kmeans_options o = opts(k);
    o.init = CN_KMEANS_INIT_RANDOM;
    o.max_iter = 1;
    cn_kmeans *km = NULL;
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, NULL, &km));
    int seen[50] = {0};
    for (int j = 0; km && j < k; j++) {
        int v = (int)cn_kmeans_centroids(km)[j];
        CHECK(v >= 0 && v < 50 && cn_kmeans_centroids(km)[j] == (float)v);
        if (v >= 0 && v < 50)
            seen[v]++;
    }
    for (int i = 0; i < 50; i++)
        CHECK(seen[i] == 1);
    CHECK(km && cn_kmeans_inertia(km) == 0);
    cn_kmeans_free(km);
}

static void restarts_keep_the_lowest_inertia(void)
{
    const int64_t n = 4000;
    const int d = 3, k = 9;
    float *x = kfix_blobs(n, d, 12, 2.5f, 8, NULL);
    cn_kmeans_options o = opts(k);
    o.init = CN_KMEANS_INIT_RANDOM;
    o.seed = 3;
    cn_kmeans *one = NULL, *many = NULL;
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, NULL, &one));
    o.n_init = 8; /* its first run is the single run above: same generator, same start */
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, NULL, &many));
    CHECK(one && many && cn_kmeans_inertia(many) <= cn_kmeans_inertia(one));
    cn_kmeans_free(one);
    cn_kmeans_free(many);
    free(x);
}

static void tolerance_and_max_iter_bound_the_iterations(void)
{
    const int64_t n = 4000;
    const int d = 4, k = 6;
    float *x = kfix_blobs(n, d, 6, 1.0f, 2, NULL);
    cn_kmeans_options o = opts(k);
    o.seed = 5;
    o.tol = 0;
    cn_kmeans *exact = NULL, *loose = NULL, *one = NULL;
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, NULL, &exact));
    o.tol = 0.5;
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, NULL, &loose));
    o.tol = 0;
    o.max_iter = 1;
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, NULL, &one));
    CHECK(exact && loose && one);
    if (exact && loose && one) {
        CHECK(cn_kmeans_iterations(loose) < cn_kmeans_iterations(exact));
        CHECK(cn_kmeans_iterations(one) == 1);
    }
    cn_kmeans_free(exact);
    cn_kmeans_free(loose);
    cn_kmeans_free(one);
    free(x);
}

static void an_empty_cluster_takes_the_farthest_pixel(void)
{
    /* two groups on a line and a far outlier; centroid 2 starts where no pixel is nearest */
    float x[] = {0, 1, 2, 10, 11, 12, 40};
    float init[] = {1, 11, -1000};
    cn_kmeans_options o = opts(3);
    o.init = CN_KMEANS_INIT_GIVEN;
    o.init_centroids = init;
    o.max_iter = 1;
    cn_kmeans *km = NULL;
    int32_t lab[7];
    CHECK_OK(cn_kmeans_fit(x, 7, 1, &o, lab, &km));
    /* the outlier 40 (farthest from its centroid 11) leaves cluster 1 for the empty one */
    CHECK(km && cn_kmeans_centroids(km)[2] == 40.0f);
    CHECK(km && cn_kmeans_centroids(km)[1] == 11.0f);
    CHECK(lab[6] == 2);
    cn_kmeans_free(km);
}

static void fewer_distinct_pixels_than_clusters_never_gives_nan(void)
{
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)(i % 3); /* three distinct values */
    cn_kmeans_options o = opts(5);
    cn_kmeans *km = NULL;
    CHECK_OK(cn_kmeans_fit(x, 12, 1, &o, NULL, &km));
    for (int j = 0; km && j < 5; j++)
        CHECK(isfinite(cn_kmeans_centroids(km)[j]));
    CHECK(km && cn_kmeans_inertia(km) == 0);
    cn_kmeans_free(km);
}

static void rows_with_nan_are_left_out_and_labelled_minus_one(void)
{
    float x[] = {0, 0, NAN, 1, 10, 10, 0, INFINITY, 11, 11, 1, 0};
    cn_kmeans_options o = opts(2);
    cn_kmeans *km = NULL;
    int32_t lab[6];
    CHECK_OK(cn_kmeans_fit(x, 6, 2, &o, lab, &km));
    CHECK(lab[1] == -1 && lab[3] == -1);
    CHECK(lab[0] == lab[5] && lab[2] == lab[4] && lab[0] != lab[2] && lab[0] >= 0);
    CHECK(km && cn_kmeans_pixels(km) == 4);
    CHECK(km && isfinite(cn_kmeans_inertia(km)));
    int32_t p[6];
    float dist[6];
    CHECK_OK(cn_kmeans_predict(km, x, 6, 2, 1, p, dist, NULL));
    CHECK(p[1] == -1 && isnan(dist[1]) && p[3] == -1);
    cn_kmeans_free(km);
}

static void predict_gives_the_fit_labels_and_inertia(void)
{
    const int64_t n = 9000;
    const int d = 3, k = 4;
    float *x = kfix_blobs(n, d, 5, 2.0f, 4, NULL);
    int32_t *fl = malloc(n * sizeof *fl), *pl = malloc(n * sizeof *pl);
    cn_kmeans_options o = opts(k);
    cn_kmeans *km = NULL;
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, fl, &km));
    double inertia;
    CHECK_OK(cn_kmeans_predict(km, x, n, d, 2, pl, NULL, &inertia));
    CHECK(memcmp(fl, pl, n * sizeof *fl) == 0);
    CHECK_NEAR(inertia / cn_kmeans_inertia(km), 1.0, 1e-6);
    cn_kmeans_free(km);
    free(fl);
    free(pl);
    free(x);
}

static void bad_inputs_are_refused_with_a_reason(void)
{
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    float nan4[4] = {NAN, NAN, NAN, NAN};
    cn_kmeans *km = NULL;
    cn_kmeans_options o = opts(0);
    CHECK(cn_kmeans_fit(x, 8, 1, &o, NULL, &km) == CN_EINVAL && !km);
    CHECK(strstr(cn_last_error(), "k must be at least 1"));
    o.k = 9;
    CHECK(cn_kmeans_fit(x, 8, 1, &o, NULL, &km) == CN_EINVAL && !km);
    CHECK(strstr(cn_last_error(), "k = 9 is more than the 8 valid pixels"));
    o.k = 1;
    CHECK(cn_kmeans_fit(nan4, 4, 1, &o, NULL, &km) == CN_EINVAL && !km);
    CHECK(strstr(cn_last_error(), "no valid pixel"));
    o.tol = -1;
    CHECK(cn_kmeans_fit(x, 8, 1, &o, NULL, &km) == CN_EINVAL);
    o.tol = 0;
    o.init = CN_KMEANS_INIT_GIVEN; /* without centroids */
    CHECK(cn_kmeans_fit(x, 8, 1, &o, NULL, &km) == CN_EINVAL);
    o = opts(2);
    CHECK_OK(cn_kmeans_fit(x, 4, 2, &o, NULL, &km));
    int32_t lab[8];
    CHECK(cn_kmeans_predict(km, x, 8, 1, 1, lab, NULL, NULL) == CN_ESHAPE);
    CHECK(strstr(cn_last_error(), "have 1 band, the model has 2"));
    cn_kmeans_free(km);
}

static int stop_at_third(double f, const char *msg, void *data)
{
    (void)f;
    (void)msg;
    return ++*(int *)data < 3;
}

static void a_progress_callback_can_cancel_the_fit(void)
{
    const int64_t n = 2000;
    float *x = kfix_blobs(n, 2, 9, 0.5f, 6, NULL);
    cn_kmeans_options o = opts(8);
    o.tol = 0;
    int calls = 0;
    o.progress = stop_at_third;
    o.progress_data = &calls;
    cn_kmeans *km = NULL;
    CHECK(cn_kmeans_fit(x, n, 2, &o, NULL, &km) == CN_ECANCELLED && !km);
    free(x);
}

int main(void)
{
    RUN(lloyd_matches_a_plain_double_lloyd_from_the_same_centroids);
    RUN(same_seed_gives_the_same_bits_whatever_the_thread_count);
    RUN(blas_threading_finds_the_same_clustering);
    RUN(kmeans_plus_plus_puts_one_centre_in_each_separated_blob);
    RUN(random_init_starts_from_distinct_pixels);
    RUN(restarts_keep_the_lowest_inertia);
    RUN(tolerance_and_max_iter_bound_the_iterations);
    RUN(an_empty_cluster_takes_the_farthest_pixel);
    RUN(fewer_distinct_pixels_than_clusters_never_gives_nan);
    RUN(rows_with_nan_are_left_out_and_labelled_minus_one);
    RUN(predict_gives_the_fit_labels_and_inertia);
    RUN(bad_inputs_are_refused_with_a_reason);
    RUN(a_progress_callback_can_cancel_the_fit);
    return CHECK_EXIT();
}
