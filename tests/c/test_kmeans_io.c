/*
 * test_kmeans_io.c — the centroids file: an exact round trip, atomic writing, and the refusal of
 * files that are not what they claim.
 */
#include "check.h"
#include "raster_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void centroids_round_trip_exactly(void)
{
    float c[6] = {0.1f, -3.25e-7f, 1e30f, 42.0f, 1.0f / 3.0f, -0.0f};
    cn_kmeans *km = NULL, *back = NULL;
    CHECK_OK(cn_kmeans_new(3, 2, c, &km));
    const char *path = fixture_path("c.json");
    CHECK_OK(cn_kmeans_save(km, path, NULL));
    CHECK_OK(cn_kmeans_load(path, &back));
    CHECK(back && cn_kmeans_k(back) == 3 && cn_kmeans_dims(back) == 2);
    CHECK(back && memcmp(cn_kmeans_centroids(back), c, sizeof c) == 0);
    CHECK(back && isnan(cn_kmeans_inertia(back)));
    char *text = fixture_read_text(path);
    CHECK(text && strstr(text, "\"format\":\"cropnet-kmeans\"") && strstr(text, "\"inertia\":null"));
    free(text);
    cn_kmeans_free(km);
    cn_kmeans_free(back);
}

static void a_fitted_model_keeps_its_inertia_and_iterations(void)
{
    float x[8] = {0, 0, 1, 1, 9, 9, 10, 10};
    cn_kmeans_options o;
    cn_kmeans_defaults(&o);
    o.k = 2;
    cn_kmeans *km = NULL, *back = NULL;
    CHECK_OK(cn_kmeans_fit(x, 4, 2, &o, NULL, &km));
    CHECK_OK(cn_kmeans_save(km, fixture_path("fit.json"), NULL));
    CHECK_OK(cn_kmeans_load(fixture_path("fit.json"), &back));
    CHECK(back && cn_kmeans_inertia(back) == cn_kmeans_inertia(km));
    CHECK(back && cn_kmeans_iterations(back) == cn_kmeans_iterations(km));
    CHECK(back && cn_kmeans_pixels(back) == 4);
    cn_kmeans_free(km);
    cn_kmeans_free(back);
}

static cn_status load_text(const char *text)
{
    const char *path = fixture_path("bad.json");
    fixture_write_text(path, text);
    cn_kmeans *km = NULL;
    cn_status st = cn_kmeans_load(path, &km);
    CHECK(st != CN_OK || km);
    cn_kmeans_free(km);
    return st;
}

static void files_that_are_not_centroids_are_refused(void)
{
    CHECK(load_text("not json") == CN_EFORMAT);
    CHECK(strstr(cn_last_error(), "bad.json: not a cropnet centroids file"));
    CHECK(load_text("{\"k\": 1}") == CN_EFORMAT);
    CHECK(load_text("{\"format\":\"cropnet-kmeans\",\"version\":1,\"k\":2,\"bands\":1,"
                    "\"centroids\":[[1]]}") == CN_EFORMAT);
    CHECK(strstr(cn_last_error(), "k = 2 rows"));
    CHECK(load_text("{\"format\":\"cropnet-kmeans\",\"version\":1,\"k\":1,\"bands\":2,"
                    "\"centroids\":[[1]]}") == CN_EFORMAT);
    CHECK(load_text("{\"format\":\"cropnet-kmeans\",\"version\":1,\"k\":1,\"bands\":1,"
                    "\"centroids\":[[\"x\"]]}") == CN_EFORMAT);
    CHECK(load_text("{\"format\":\"cropnet-kmeans\",\"version\":1,\"k\":0,\"bands\":1,"
                    "\"centroids\":[]}") == CN_EFORMAT);
    CHECK(load_text("{\"format\":\"cropnet-kmeans\",\"version\":9,\"k\":1,\"bands\":1,"
                    "\"centroids\":[[1]]}") == CN_EVERSION);
    CHECK(load_text("{\"format\":\"cropnet-kmeans\",\"version\":1,\"k\":1,\"bands\":1,"
                    "\"centroids\":[[1e39]]}") == CN_EFORMAT);
    CHECK(load_text("{\"format\":\"cropnet-kmeans\",\"version\":1,\"k\":1,\"bands\":1,"
                    "\"centroids\":[[1]]}") == CN_OK);
    cn_kmeans *km = NULL;
    CHECK(cn_kmeans_load(fixture_path("missing.json"), &km) == CN_EIO && !km);
}

static void saving_over_an_input_is_refused_and_leaves_it(void)
{
    float c[2] = {1, 2};
    cn_kmeans *km = NULL;
    CHECK_OK(cn_kmeans_new(1, 2, c, &km));
    const char *in = fixture_path("image.tif");
    fixture_write_text(in, "keep");
    const char *inputs[] = {in, NULL};
    CHECK(cn_kmeans_save(km, in, inputs) == CN_EINVAL);
    char *text = fixture_read_text(in);
    CHECK(text && strcmp(text, "keep") == 0);
    free(text);
    CHECK(cn_kmeans_save(km, fixture_path("no/such/dir.json"), NULL) != CN_OK);
    cn_kmeans_free(km);
}

int main(void)
{
    fixture_init("kmeans_io");
    RUN(centroids_round_trip_exactly);
    RUN(a_fitted_model_keeps_its_inertia_and_iterations);
    RUN(files_that_are_not_centroids_are_refused);
    RUN(saving_over_an_input_is_refused_and_leaves_it);
    return CHECK_EXIT();
}
