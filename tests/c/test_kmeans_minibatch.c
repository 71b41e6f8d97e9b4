/*
 * test_kmeans_minibatch.c — mini-batch k-means and partial_fit: they find the clusters Lloyd
 * finds on separated data, a stream of batches works like one data set, the running mean is
 * exact, and misuse is refused.
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
    o.seed = 7;
    return o;
}

static void minibatch_reaches_the_inertia_of_lloyd_on_separated_blobs(void)
{
    const int64_t n = 20000;
    const int d = 6, k = 5;
    float *x = kfix_blobs(n, d, k, 12.0f, 1, NULL);
    cn_kmeans_options o = opts(k);
    cn_kmeans *lloyd = NULL, *mb = NULL;
    CHECK_OK(cn_kmeans_fit(x, n, d, &o, NULL, &lloyd));
    CHECK_OK(cn_kmeans_fit_minibatch(x, n, d, &o, 256, 0, NULL, &mb));
    CHECK(lloyd && mb);
    if (lloyd && mb) {
        CHECK(cn_kmeans_inertia(mb) <= 1.01 * cn_kmeans_inertia(lloyd));
        CHECK(cn_kmeans_iterations(mb) >= 1);
        CHECK(cn_kmeans_pixels(mb) == n);
    }
    cn_kmeans_free(lloyd);
    cn_kmeans_free(mb);
    free(x);
}

static void partial_fit_on_a_stream_of_batches_finds_the_blobs(void)
{
    const int64_t n = 12000, batch = 500;
    const int d = 3, k = 4;
    float *x = kfix_blobs(n, d, k, 15.0f, 2, NULL);
    cn_kmeans *km = NULL;
    CHECK_OK(cn_kmeans_new(k, d, NULL, &km));
    CHECK(cn_kmeans_centroids(km) == NULL);
    cn_kmeans_options o = opts(k);
    for (int64_t b = 0; b < n; b += batch)
        CHECK_OK(cn_kmeans_partial_fit(km, x + b * d, batch, d, &o));
    CHECK(cn_kmeans_iterations(km) == n / batch);
    /* every centroid sits on a blob centre (blob b at spacing·b·(-0.5, 1, -0.5)) */
    for (int j = 0; j < k; j++) {
        const float *c = cn_kmeans_centroids(km) + j * d;
        float b = c[1] / 15.0f;
        CHECK(fabsf(b - roundf(b)) < 0.05f);
        CHECK(fabsf(c[0] + 0.5f * c[1]) < 0.5f);
    }
    cn_kmeans_free(km);
    free(x);
}

static void a_centroid_becomes_the_running_mean_of_its_pixels(void)
{
    float c0[2] = {0, 0};
    cn_kmeans *km = NULL;
    CHECK_OK(cn_kmeans_new(1, 2, c0, &km));
    cn_kmeans_options o = opts(1);
    float a[4] = {1, 2, 3, 4}, b[2] = {8, 9};
    CHECK_OK(cn_kmeans_partial_fit(km, a, 2, 2, &o));
    CHECK_OK(cn_kmeans_partial_fit(km, b, 1, 2, &o));
    CHECK_NEAR(cn_kmeans_centroids(km)[0], (1 + 3 + 8) / 3.0, 1e-6);
    CHECK_NEAR(cn_kmeans_centroids(km)[1], (2 + 4 + 9) / 3.0, 1e-6);
    cn_kmeans_free(km);
}

static void partial_fit_refuses_other_band_counts_and_too_few_pixels(void)
{
    cn_kmeans *km = NULL;
    CHECK_OK(cn_kmeans_new(3, 2, NULL, &km));
    cn_kmeans_options o = opts(3);
    float x[4] = {1, 2, 3, 4};
    CHECK(cn_kmeans_partial_fit(km, x, 2, 2, &o) == CN_EINVAL); /* 2 pixels for k = 3 */
    CHECK(strstr(cn_last_error(), "k = 3 is more than the 2 valid pixels"));
    CHECK(cn_kmeans_partial_fit(km, x, 4, 1, &o) == CN_ESHAPE);
    CHECK(cn_kmeans_centroids(km) == NULL);
    cn_kmeans_free(km);
}

static void same_seed_gives_the_same_minibatch_model(void)
{
    const int64_t n = 6000;
    const int d = 4, k = 3;
    float *x = kfix_blobs(n, d, 5, 3.0f, 3, NULL);
    cn_kmeans_options o = opts(k);
    cn_kmeans *a = NULL, *b = NULL;
    CHECK_OK(cn_kmeans_fit_minibatch(x, n, d, &o, 100, 300, NULL, &a));
    o.threads = 2;
    CHECK_OK(cn_kmeans_fit_minibatch(x, n, d, &o, 100, 300, NULL, &b));
    CHECK(a && b && memcmp(cn_kmeans_centroids(a), cn_kmeans_centroids(b), sizeof(float) * k * d) == 0);
    CHECK(a && cn_kmeans_iterations(a) == 300);
    cn_kmeans_free(a);
    cn_kmeans_free(b);
    free(x);
}

int main(void)
{
    RUN(minibatch_reaches_the_inertia_of_lloyd_on_separated_blobs);
    RUN(partial_fit_on_a_stream_of_batches_finds_the_blobs);
    RUN(a_centroid_becomes_the_running_mean_of_its_pixels);
    RUN(partial_fit_refuses_other_band_counts_and_too_few_pixels);
    RUN(same_seed_gives_the_same_minibatch_model);
    return CHECK_EXIT();
}
