/*
 * test_kmeans_raster.c — k-means on rasters: the segment map (ids, nodata, colour table,
 * georeference, metadata), tiles that change nothing, the fitting sample, the streamed
 * mini-batch fit, and the refusals that leave no output.
 */
#include "check.h"
#include "raster_fixture.h"

#include <cpl_string.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { W = 61, H = 47, B = 3 };

/* Three zones (left, middle, right thirds) of distinct spectra plus noise; every 29th pixel is
 * nodata (-9999) in one band. */
static void make_zones(const char *path, bool all_nodata)
{
    float *v = malloc((size_t)W * H * B * sizeof *v);
    cn_rng rng;
    cn_rng_seed(&rng, 4);
    const float zone[3][B] = {{10, 80, 30}, {60, 20, 90}, {120, 120, 10}};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int p = y * W + x, z = x * 3 / W;
            for (int b = 0; b < B; b++)
                v[p * B + b] = all_nodata ? -9999 : zone[z][b] + (float)cn_rng_normal(&rng);
            if (p % 29 == 0)
                v[p * B + p % B] = -9999;
        }
    fixture_raster(path, "GTiff", W, H, B, GDT_Float32, v, true, -9999);
    free(v);
}

static cn_cluster_options copts(int k)
{
    cn_cluster_options o;
    memset(&o, 0, sizeof o);
    cn_kmeans_defaults(&o.kmeans);
    o.kmeans.k = k;
    o.kmeans.seed = 1;
    return o;
}

/* Band 1 of a one-band raster as ints (malloc'd). */
static int *read_ids(const char *path)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return NULL;
    int *v = malloc((size_t)W * H * sizeof *v);
    if (GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, W, H, v, W, H, GDT_Int32, 0, 0)) {
        free(v);
        v = NULL;
    }
    GDALClose(ds);
    return v;
}

/* Fits on the scene and labels it into out (tile 0 = default). */
static cn_status segment(const char *scene, const char *out, int k, int tile, int64_t batch)
{
    cn_raster *r;
    cn_status st = cn_raster_open(scene, &r);
    if (st)
        return st;
    cn_cluster_options o = copts(k);
    o.tile = tile;
    o.batch = batch;
    cn_kmeans *km = NULL;
    if (!(st = cn_cluster_fit(r, &o, &km)))
        st = cn_cluster_label(km, r, out, &o, NULL);
    cn_kmeans_free(km);
    cn_raster_close(r);
    return st;
}

static void the_segment_map_has_ids_nodata_colours_georeference_and_centroids(void)
{
    const char *scene = fixture_path("zones.tif"), *out = fixture_path("segments.tif");
    make_zones(scene, false);
    CHECK_OK(segment(scene, out, 3, 0, 0));
    int *ids = read_ids(out);
    CHECK(ids != NULL);
    int zone_id[3] = {0, 0, 0};
    bool consistent = true;
    for (int p = 0; ids && p < W * H; p++) {
        int z = (p % W) * 3 / W;
        if (p % 29 == 0) {
            CHECK(ids[p] == 0);
            continue;
        }
        if (!zone_id[z])
            zone_id[z] = ids[p];
        consistent &= ids[p] == zone_id[z] && ids[p] >= 1 && ids[p] <= 3;
    }
    CHECK(consistent);
    CHECK(zone_id[0] != zone_id[1] && zone_id[1] != zone_id[2] && zone_id[0] != zone_id[2]);
    free(ids);
    GDALDatasetH ds = GDALOpen(out, GA_ReadOnly);
    GDALRasterBandH band = ds ? GDALGetRasterBand(ds, 1) : NULL;
    CHECK(band && GDALGetRasterDataType(band) == GDT_Byte);
    int has_nodata = 0;
    CHECK(band && GDALGetRasterNoDataValue(band, &has_nodata) == 0 && has_nodata);
    CHECK(band && GDALGetRasterColorTable(band) != NULL);
    double gt[6];
    CHECK(ds && GDALGetGeoTransform(ds, gt) == CE_None && gt[0] == fixture_gt[0] &&
          gt[1] == fixture_gt[1]);
    const char *cent = ds ? GDALGetMetadataItem(ds, "KMEANS_CENTROIDS", NULL) : NULL;
    CHECK(cent && cent[0] == '[' && strstr(cent, "],["));
    const char *inertia = ds ? GDALGetMetadataItem(ds, "KMEANS_INERTIA", NULL) : NULL;
    CHECK(inertia && atof(inertia) > 0);
    const char *k = ds ? GDALGetMetadataItem(ds, "KMEANS_K", NULL) : NULL;
    CHECK(k && strcmp(k, "3") == 0);
    char **names = band ? GDALGetRasterCategoryNames(band) : NULL;
    CHECK(names && CSLCount(names) >= 4 && strcmp(names[2], "segment 2") == 0);
    if (ds)
        GDALClose(ds);
}

static void small_tiles_give_the_same_map(void)
{
    const char *scene = fixture_path("zones_t.tif");
    make_zones(scene, false);
    CHECK_OK(segment(scene, fixture_path("one.tif"), 4, 0, 0));
    CHECK_OK(segment(scene, fixture_path("tiled.tif"), 4, 16, 0));
    int *a = read_ids(fixture_path("one.tif")), *b = read_ids(fixture_path("tiled.tif"));
    CHECK(a && b && memcmp(a, b, sizeof(int) * W * H) == 0);
    free(a);
    free(b);
}

static void the_sample_holds_valid_pixels_up_to_its_size(void)
{
    const char *scene = fixture_path("zones_s.tif");
    make_zones(scene, false);
    cn_raster *r = NULL;
    CHECK_OK(cn_raster_open(scene, &r));
    cn_cluster_options o = copts(3);
    o.sample = 100;
    o.tile = 10;
    float *px = NULL;
    int64_t n = 0;
    CHECK_OK(cn_cluster_sample(r, &o, &px, &n));
    CHECK(n == 100);
    for (int64_t i = 0; px && i < n * B; i++)
        CHECK(px[i] != -9999);
    free(px);
    o.sample = 0; /* default: the whole (small) scene */
    CHECK_OK(cn_cluster_sample(r, &o, &px, &n));
    CHECK(n == W * H - (W * H + 28) / 29);
    free(px);
    cn_raster_close(r);
}

static void streamed_minibatch_finds_the_zones(void)
{
    const char *scene = fixture_path("zones_m.tif"), *out = fixture_path("mb.tif");
    make_zones(scene, false);
    CHECK_OK(segment(scene, out, 3, 16, 64));
    int *ids = read_ids(out);
    int zone_id[3] = {0, 0, 0}, wrong = 0;
    for (int p = 0; ids && p < W * H; p++) {
        int z = (p % W) * 3 / W;
        if (p % 29 == 0)
            continue;
        if (!zone_id[z])
            zone_id[z] = ids[p];
        wrong += ids[p] != zone_id[z];
    }
    CHECK(ids && wrong == 0);
    CHECK(zone_id[0] != zone_id[1] && zone_id[1] != zone_id[2]);
    free(ids);
}

static void an_all_nodata_scene_is_refused_without_output(void)
{
    const char *scene = fixture_path("empty.tif"), *out = fixture_path("empty_seg.tif");
    make_zones(scene, true);
    CHECK(segment(scene, out, 2, 0, 0) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "has no valid pixel"));
    CHECK(!fixture_exists(out));
    /* applying given centroids to it is refused too */
    float c[B] = {1, 2, 3};
    cn_kmeans *km = NULL;
    cn_raster *r = NULL;
    CHECK_OK(cn_kmeans_new(1, B, c, &km));
    CHECK_OK(cn_raster_open(scene, &r));
    cn_cluster_options o = copts(1);
    CHECK(cn_cluster_label(km, r, out, &o, NULL) == CN_EINVAL);
    CHECK(!fixture_exists(out) && !fixture_exists(fixture_path("empty_seg.tif.aux.xml")));
    cn_raster_close(r);
    cn_kmeans_free(km);
}

static void more_clusters_than_valid_pixels_are_refused(void)
{
    const float v[6] = {1, 2, 3, 4, -1, 6}; /* 3 pixels × 2 bands, one nodata */
    const char *scene = fixture_path("tiny.tif"), *out = fixture_path("tiny_seg.tif");
    fixture_raster(scene, "GTiff", 3, 1, 2, GDT_Float32, v, true, -1);
    CHECK(segment(scene, out, 3, 0, 0) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "tiny.tif: k = 3 is more than the 2 valid pixels"));
    CHECK(!fixture_exists(out));
}

static void a_band_count_mismatch_keeps_an_existing_map(void)
{
    const char *scene = fixture_path("zones_b.tif"), *out = fixture_path("keep.tif");
    make_zones(scene, false);
    fixture_write_text(out, "earlier");
    float c[4] = {1, 2, 3, 4};
    cn_kmeans *km = NULL;
    cn_raster *r = NULL;
    CHECK_OK(cn_kmeans_new(1, 4, c, &km));
    CHECK_OK(cn_raster_open(scene, &r));
    cn_cluster_options o = copts(1);
    CHECK(cn_cluster_label(km, r, out, &o, NULL) == CN_ESHAPE);
    CHECK(strstr(cn_last_error(), "zones_b.tif: has 3 bands, the model has 4"));
    char *text = fixture_read_text(out);
    CHECK(text && strcmp(text, "earlier") == 0);
    free(text);
    cn_raster_close(r);
    cn_kmeans_free(km);
}

static int cancel_second(double f, const char *stage, void *data)
{
    (void)f;
    (void)stage;
    return ++*(int *)data < 2;
}

static void cancelling_the_labelling_leaves_no_output(void)
{
    const char *scene = fixture_path("zones_c.tif"), *out = fixture_path("cancel.tif");
    make_zones(scene, false);
    float c[6] = {0, 0, 0, 100, 100, 100};
    cn_kmeans *km = NULL;
    cn_raster *r = NULL;
    CHECK_OK(cn_kmeans_new(2, B, c, &km));
    CHECK_OK(cn_raster_open(scene, &r));
    cn_cluster_options o = copts(2);
    int calls = 0;
    o.tile = 8;
    o.kmeans.progress = cancel_second;
    o.kmeans.progress_data = &calls;
    CHECK(cn_cluster_label(km, r, out, &o, NULL) == CN_ECANCELLED);
    CHECK(!fixture_exists(out));
    cn_raster_close(r);
    cn_kmeans_free(km);
}

int main(void)
{
    fixture_init("kmeans_raster");
    RUN(the_segment_map_has_ids_nodata_colours_georeference_and_centroids);
    RUN(small_tiles_give_the_same_map);
    RUN(the_sample_holds_valid_pixels_up_to_its_size);
    RUN(streamed_minibatch_finds_the_zones);
    RUN(an_all_nodata_scene_is_refused_without_output);
    RUN(more_clusters_than_valid_pixels_are_refused);
    RUN(a_band_count_mismatch_keeps_an_existing_map);
    RUN(cancelling_the_labelling_leaves_no_output);
    return CHECK_EXIT();
}
