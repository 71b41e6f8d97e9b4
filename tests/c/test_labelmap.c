/*
 * test_labelmap.c — writing rasters: the label map's metadata (type, nodata 0, colour table,
 * category names through the .aux.xml sidecar, georeference, tiling, compression), creation
 * options, atomicity (abort, refused options, an existing file kept), and the class table's JSON
 * and default colours.
 */
#include "check.h"
#include "raster_fixture.h"

#include <cpl_string.h>

static const cn_class_info classes3[3] = {
    {1, "Brocoli_green_weeds_1", {10, 200, 30}},
    {10, "Corn_senesced_green_weeds", {250, 240, 5}},
    {14, "Lettuce_romaine_7wk", {0, 0, 255}},
};

static cn_georef utm(char **wkt)
{
    *wkt = fixture_wkt(32622);
    cn_georef g = {fixture_gt, *wkt};
    return g;
}

/* Writes a 300 x 260 map of ids cycling through 0 and the classes. */
static cn_status write_map(const char *path, int max_id, const char *const *co)
{
    char *wkt;
    cn_georef g = utm(&wkt);
    cn_labelmap *lm = NULL;
    cn_status st = cn_labelmap_create(path, NULL, 300, 260, g, max_id, classes3, 3, co, &lm);
    CPLFree(wkt);
    if (st)
        return st;
    int32_t *ids = malloc(300 * 260 * sizeof *ids);
    const int32_t cycle[4] = {0, 1, 10, 14};
    for (int i = 0; i < 300 * 260; i++)
        ids[i] = cycle[i % 4];
    st = cn_labelmap_write(lm, 0, 0, 300, 130, ids);
    if (!st)
        st = cn_labelmap_write(lm, 0, 130, 300, 130, ids + 300 * 130);
    free(ids);
    if (st) {
        cn_labelmap_abort(lm);
        return st;
    }
    return cn_labelmap_commit(lm);
}

static void label_map_carries_colours_names_nodata_and_georeference(void)
{
    const char *path = fixture_path("map.tif");
    CHECK_OK(write_map(path, 14, NULL));
    char aux[1100];
    snprintf(aux, sizeof aux, "%s.aux.xml", path);
    char *sidecar = fixture_read_text(aux); /* GTiff keeps category names in the sidecar */
    CHECK(sidecar && strstr(sidecar, "<Category>Lettuce_romaine_7wk</Category>"));
    free(sidecar);
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CHECK(ds != NULL);
    if (!ds)
        return;
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    CHECK(GDALGetRasterDataType(b) == GDT_Byte);
    int has = 0;
    CHECK(GDALGetRasterNoDataValue(b, &has) == 0 && has);
    double gt[6];
    GDALGetGeoTransform(ds, gt);
    for (int i = 0; i < 6; i++)
        CHECK(gt[i] == fixture_gt[i]);
    CHECK(strstr(GDALGetProjectionRef(ds), "32622") != NULL);
    GDALColorTableH ct = GDALGetRasterColorTable(b);
    CHECK(ct && GDALGetColorEntryCount(ct) >= 15);
    const GDALColorEntry *e0 = GDALGetColorEntry(ct, 0), *e10 = GDALGetColorEntry(ct, 10);
    CHECK(e0->c4 == 0);
    CHECK(e10->c1 == 250 && e10->c2 == 240 && e10->c3 == 5 && e10->c4 == 255);
    char **names = GDALGetRasterCategoryNames(b);
    CHECK(CSLCount(names) == 15);
    CHECK(names && strcmp(names[0], "unclassified") == 0 && strcmp(names[5], "") == 0 &&
          strcmp(names[14], "Lettuce_romaine_7wk") == 0);
    int bx, by;
    GDALGetBlockSize(b, &bx, &by);
    CHECK(bx == 256 && by == 256);
    const char *comp = GDALGetMetadataItem(ds, "COMPRESSION", "IMAGE_STRUCTURE");
    CHECK(comp && strcmp(comp, "DEFLATE") == 0);
    int32_t px[4];
    CHECK(GDALRasterIO(b, GF_Read, 0, 200, 4, 1, px, 4, 1, GDT_Int32, 0, 0) == CE_None);
    CHECK(px[0] == 0 && px[1] == 1 && px[2] == 10 && px[3] == 14);
    GDALClose(ds);
}

static void ids_past_255_make_a_uint16_map(void)
{
    const char *path = fixture_path("map16.tif");
    CHECK_OK(write_map(path, 300, NULL));
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CHECK(ds && GDALGetRasterDataType(GDALGetRasterBand(ds, 1)) == GDT_UInt16);
    if (ds)
        GDALClose(ds);
}

static void creation_options_override_the_defaults(void)
{
    const char *path = fixture_path("lzw.tif");
    const char *co[] = {"COMPRESS=LZW", "TILED=NO", NULL};
    CHECK_OK(write_map(path, 14, co));
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return;
    const char *comp = GDALGetMetadataItem(ds, "COMPRESSION", "IMAGE_STRUCTURE");
    CHECK(comp && strcmp(comp, "LZW") == 0);
    int bx, by;
    GDALGetBlockSize(GDALGetRasterBand(ds, 1), &bx, &by);
    CHECK(bx == 300); /* strips span the width */
    GDALClose(ds);
}

static void invalid_creation_options_are_refused_and_leave_nothing(void)
{
    int before = fixture_count_files();
    const char *path = fixture_path("badco.tif");
    const char *typo[] = {"COMPRES=LZW", NULL}, *bad[] = {"COMPRESS", NULL};
    CHECK(write_map(path, 14, typo) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), path) && strstr(cn_last_error(), "COMPRES"));
    CHECK(write_map(path, 14, bad) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "NAME=VALUE") != NULL);
    CHECK(fixture_count_files() == before);
}

static void abort_leaves_nothing_and_keeps_an_existing_file(void)
{
    const char *path = fixture_path("keep.tif");
    fixture_write_text(path, "precious");
    int before = fixture_count_files();
    char *wkt;
    cn_georef g = utm(&wkt);
    cn_labelmap *lm;
    CHECK_OK(cn_labelmap_create(path, NULL, 10, 10, g, 14, classes3, 3, NULL, &lm));
    CPLFree(wkt);
    int32_t ids[100] = {0};
    CHECK_OK(cn_labelmap_write(lm, 0, 0, 10, 10, ids));
    cn_labelmap_abort(lm);
    CHECK(fixture_count_files() == before);
    char *text = fixture_read_text(path);
    CHECK(text && strcmp(text, "precious") == 0);
    free(text);
}

static void ids_beyond_the_largest_are_refused(void)
{
    char *wkt;
    cn_georef g = utm(&wkt);
    cn_labelmap *lm;
    CHECK_OK(cn_labelmap_create(fixture_path("big.tif"), NULL, 2, 1, g, 14, classes3, 3, NULL, &lm));
    CPLFree(wkt);
    int32_t ids[2] = {1, 15};
    CHECK(cn_labelmap_write(lm, 0, 0, 2, 1, ids) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "15") && strstr(cn_last_error(), "(1, 0)"));
    cn_labelmap_abort(lm);
    CHECK(!fixture_exists(fixture_path("big.tif")));
}

static void output_equal_to_an_input_is_refused(void)
{
    const char *in = fixture_path("input.tif");
    fixture_raster(in, "GTiff", 2, 2, 1, GDT_Byte, NULL, false, 0);
    const char *inputs[] = {in, NULL};
    cn_labelmap *lm = NULL;
    cn_georef g = {NULL, NULL};
    CHECK(cn_labelmap_create(in, inputs, 2, 2, g, 3, NULL, 0, NULL, &lm) == CN_EINVAL);
    CHECK(lm == NULL && strstr(cn_last_error(), in));
}

static void float_writer_keeps_band_descriptions_and_nodata(void)
{
    const char *path = fixture_path("probs.tif");
    cn_raster_writer *w;
    cn_georef g = {fixture_gt, NULL};
    CHECK_OK(cn_raster_writer_create(path, NULL, 3, 2, 2, CN_SAMPLE_FLOAT32, g, NULL, &w));
    CHECK_OK(cn_raster_writer_set_description(w, 2, "Fallow"));
    CHECK_OK(cn_raster_writer_set_nodata(w, 2, -1));
    float v[12] = {0.25f, 0.75f, 1, 0, 0.5f, 0.5f, -1, -1, 0.1f, 0.9f, 0.3f, 0.7f};
    CHECK_OK(cn_raster_writer_write(w, 0, 0, 3, 2, v));
    CHECK_OK(cn_raster_writer_commit(w));
    cn_raster *r;
    CHECK_OK(cn_raster_open(path, &r));
    float out[12];
    CHECK_OK(cn_raster_read(r, 0, 0, 3, 2, out, NULL));
    for (int i = 0; i < 12; i++)
        CHECK(out[i] == v[i]);
    double nd;
    CHECK(strcmp(cn_raster_band_description(r, 2), "Fallow") == 0);
    CHECK(cn_raster_nodata(r, 2, &nd) && nd == -1);
    cn_raster_close(r);
}

static void classes_round_trip_through_json(void)
{
    char *json = NULL;
    CHECK_OK(cn_classes_to_json(classes3, 3, &json));
    cn_class_info *c = NULL;
    size_t n = 0;
    CHECK_OK(cn_classes_from_json(json, &c, &n));
    CHECK(n == 3);
    for (size_t i = 0; c && i < 3; i++)
        CHECK(c[i].id == classes3[i].id && strcmp(c[i].name, classes3[i].name) == 0 &&
              memcmp(c[i].rgb, classes3[i].rgb, 3) == 0);
    free(c);
    free(json);
}

static void malformed_class_tables_are_refused(void)
{
    const char *bad[] = {"", "{}", "[]", "[{\"id\": 0}]", "[{\"id\": 70000}]", "[{\"id\": 1.5}]",
                         "[{\"id\": 2}, {\"id\": 2}]", "[{\"id\": 2, \"color\": \"red\"}]",
                         "[{\"id\": 2, \"name\": 5}]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cn_class_info *c = (cn_class_info *)1;
        size_t n = 9;
        CHECK(cn_classes_from_json(bad[i], &c, &n) == CN_EFORMAT);
        CHECK(c == NULL && n == 0);
    }
}

static void classes_without_colours_get_distinct_default_colours(void)
{
    cn_class_info *c = NULL;
    size_t n = 0;
    CHECK_OK(cn_classes_from_json("[{\"id\": 3, \"name\": \"Fallow\"}]", &c, &n));
    uint8_t want[3];
    cn_class_default_rgb(3, want);
    CHECK(c && memcmp(c[0].rgb, want, 3) == 0);
    free(c);
    /* ids 1..40 all differ from each other, and a second call gives the same colour */
    uint8_t rgb[41][3];
    for (int id = 1; id <= 40; id++)
        cn_class_default_rgb(id, rgb[id]);
    for (int a = 1; a <= 40; a++)
        for (int b = a + 1; b <= 40; b++)
            CHECK(memcmp(rgb[a], rgb[b], 3) != 0);
    uint8_t again[3];
    cn_class_default_rgb(33, again);
    CHECK(memcmp(again, rgb[33], 3) == 0);
}

int main(void)
{
    fixture_init("labelmap");
    RUN(label_map_carries_colours_names_nodata_and_georeference);
    RUN(ids_past_255_make_a_uint16_map);
    RUN(creation_options_override_the_defaults);
    RUN(invalid_creation_options_are_refused_and_leave_nothing);
    RUN(abort_leaves_nothing_and_keeps_an_existing_file);
    RUN(ids_beyond_the_largest_are_refused);
    RUN(output_equal_to_an_input_is_refused);
    RUN(float_writer_keeps_band_descriptions_and_nodata);
    RUN(classes_round_trip_through_json);
    RUN(malformed_class_tables_are_refused);
    RUN(classes_without_colours_get_distinct_default_colours);
    return CHECK_EXIT();
}
