/*
 * test_raster.c — reading rasters: every numeric type as float32, the validity mask (nodata per
 * band in the band's precision, NaN, Inf), windows, reflection past the edges, label windows,
 * the same-grid check, and the refusals: missing, not a raster, zero-size, truncated.
 */
#include "check.h"
#include "raster_fixture.h"

#include <math.h>

static cn_raster *open_ok(const char *path)
{
    cn_raster *r = NULL;
    CHECK_OK(cn_raster_open(path, &r));
    return r;
}

static void reads_every_numeric_type_as_float(void)
{
    const GDALDataType types[] = {GDT_Byte,   GDT_UInt16,  GDT_Int16,   GDT_UInt32,  GDT_Int32,
                                  GDT_UInt64, GDT_Int64,   GDT_Float32, GDT_Float64, GDT_CInt16,
                                  GDT_CInt32, GDT_CFloat32, GDT_CFloat64};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        bool is_unsigned = types[t] == GDT_Byte || types[t] == GDT_UInt16 ||
                           types[t] == GDT_UInt32 || types[t] == GDT_UInt64;
        float v[3 * 2 * 2];
        for (int i = 0; i < 12; i++)
            v[i] = is_unsigned ? (float)(i * 7) : (float)(i * 7 - 40);
        char name[64];
        snprintf(name, sizeof name, "type_%s.tif", GDALGetDataTypeName(types[t]));
        const char *path = fixture_path(name);
        fixture_raster(path, "GTiff", 3, 2, 2, types[t], v, false, 0);
        cn_raster *r = open_ok(path);
        if (!r)
            continue;
        CHECK(strcmp(cn_raster_band_type(r, 2), GDALGetDataTypeName(types[t])) == 0);
        float out[12];
        uint8_t valid[6];
        CHECK_OK(cn_raster_read(r, 0, 0, 3, 2, out, valid));
        for (int i = 0; i < 12; i++)
            CHECK(out[i] == v[i]);
        for (int i = 0; i < 6; i++)
            CHECK(valid[i] == 1);
        cn_raster_close(r);
    }
}

static void reports_size_georeference_and_nodata(void)
{
    const char *path = fixture_path("meta.tif");
    fixture_raster(path, "GTiff", 5, 4, 3, GDT_Int16, NULL, true, -9999);
    cn_raster *r = open_ok(path);
    if (!r)
        return;
    CHECK(cn_raster_width(r) == 5 && cn_raster_height(r) == 4 && cn_raster_bands(r) == 3);
    double gt[6], nd = 0;
    CHECK(cn_raster_geotransform(r, gt));
    for (int i = 0; i < 6; i++)
        CHECK(gt[i] == fixture_gt[i]);
    CHECK(strstr(cn_raster_wkt(r), "32622") != NULL);
    CHECK(cn_raster_nodata(r, 3, &nd) && nd == -9999);
    CHECK(!cn_raster_nodata(r, 4, &nd));
    CHECK(strcmp(cn_raster_path(r), path) == 0);
    cn_raster_close(r);
}

static void nodata_in_any_band_marks_the_pixel_invalid(void)
{
    /* 3 pixels × 2 bands; nodata 7 in band 2 of pixel 1 and band 1 of pixel 2 */
    const float v[6] = {1, 2, 3, 7, 7, 5};
    const char *path = fixture_path("nodata.tif");
    fixture_raster(path, "GTiff", 3, 1, 2, GDT_UInt16, v, true, 7);
    cn_raster *r = open_ok(path);
    float out[6];
    uint8_t valid[3];
    CHECK_OK(cn_raster_read(r, 0, 0, 3, 1, out, valid));
    CHECK(valid[0] == 1 && valid[1] == 0 && valid[2] == 0);
    cn_raster_close(r);
}

static void nan_and_inf_mark_the_pixel_invalid(void)
{
    const float v[4] = {1.5f, NAN, INFINITY, -INFINITY};
    const char *path = fixture_path("nan.tif");
    fixture_raster(path, "GTiff", 4, 1, 1, GDT_Float32, v, false, 0);
    cn_raster *r = open_ok(path);
    float out[4];
    uint8_t valid[4];
    CHECK_OK(cn_raster_read(r, 0, 0, 4, 1, out, valid));
    CHECK(valid[0] == 1 && valid[1] == 0 && valid[2] == 0 && valid[3] == 0);
    cn_raster_close(r);
}

/* Reads into valid what cn_raster_read takes as valid in a new 2 × 1 one-band GeoTIFF `name` of
 * `type` holding v (two values of that type, written as they are, not through float32) with
 * nodata `nodata`. */
static void validity_of_pair(const char *name, GDALDataType type, void *v, double nodata,
                             uint8_t valid[2])
{
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), fixture_path(name), 2, 1, 1, type,
                                 NULL);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    GDALSetRasterNoDataValue(b, nodata);
    CHECK(GDALRasterIO(b, GF_Write, 0, 0, 2, 1, v, 2, 1, type, 0, 0) == CE_None);
    GDALClose(ds);
    cn_raster *r = open_ok(fixture_path(name));
    float out[2];
    valid[0] = valid[1] = 2; /* neither answer, should the read fail */
    CHECK_OK(cn_raster_read(r, 0, 0, 2, 1, out, valid));
    cn_raster_close(r);
}

static void float64_nodata_is_compared_in_float64(void)
{
    /* 0.1 and 0.1 + 1e-12 are the same float32 but different doubles: only the second is
     * nodata. */
    double v[2] = {0.1, 0.1 + 1e-12};
    uint8_t valid[2];
    validity_of_pair("f64.tif", GDT_Float64, v, 0.1 + 1e-12, valid);
    CHECK(valid[0] == 1 && valid[1] == 0);
}

static void int32_nodata_is_compared_exactly(void)
{
    /* 16777216 and 16777217 are one float32; the nodata value is the second */
    int32_t v[2] = {16777216, 16777217};
    uint8_t valid[2];
    validity_of_pair("i32.tif", GDT_Int32, v, 16777217, valid);
    CHECK(valid[0] == 1 && valid[1] == 0);
}

static void window_reads_the_right_pixels(void)
{
    float v[6 * 5];
    for (int i = 0; i < 30; i++)
        v[i] = (float)i;
    const char *path = fixture_path("window.tif");
    fixture_raster(path, "GTiff", 6, 5, 1, GDT_Byte, v, false, 0);
    cn_raster *r = open_ok(path);
    float out[6];
    CHECK_OK(cn_raster_read(r, 2, 3, 3, 2, out, NULL));
    const float want[6] = {20, 21, 22, 26, 27, 28};
    for (int i = 0; i < 6; i++)
        CHECK(out[i] == want[i]);
    cn_raster_close(r);
}

/* Uncompressed GeoTIFFs are read straight from the file, compressed ones through GDAL's blocks;
 * both, tiled or striped, pixel- or band-interleaved, give the pixels written. */
static void every_layout_reads_the_pixels_written(void)
{
    enum { W = 67, H = 45, B = 5 };
    float *v = malloc(W * H * B * sizeof *v), out[50 * 31 * B];
    for (int i = 0; i < W * H * B; i++)
        v[i] = (float)((i * 2654435761u) % 251);
    const GDALDataType types[3] = {GDT_Byte, GDT_UInt16, GDT_Float32};
    const char *layouts[4][5] = {
        {"TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", NULL, NULL},
        {"TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "COMPRESS=DEFLATE", NULL},
        {"BLOCKYSIZE=7", NULL, NULL, NULL, NULL},
        {"INTERLEAVE=BAND", "BLOCKYSIZE=7", NULL, NULL, NULL},
    };
    for (int t = 0; t < 3; t++)
        for (int l = 0; l < 4; l++) {
            const char *path = fixture_path("layout.tif");
            GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, W, H, B, types[t],
                                         (char **)layouts[l]);
            CHECK(GDALDatasetRasterIO(ds, GF_Write, 0, 0, W, H, v, W, H, GDT_Float32, B, NULL,
                                      B * 4, W * B * 4, 4) == CE_None);
            GDALClose(ds);
            cn_raster *r = open_ok(path);
            if (!r)
                continue;
            CHECK_OK(cn_raster_read(r, 3, 5, 50, 31, out, NULL));
            int wrong = 0;
            for (int y = 0; y < 31; y++)
                for (int x = 0; x < 50; x++)
                    for (int b = 0; b < B; b++)
                        wrong += out[(y * 50 + x) * B + b] != v[((y + 5) * W + x + 3) * B + b];
            CHECK(wrong == 0);
            cn_raster_close(r);
        }
    free(v);
}

/* A band-interleaved source is read in chunks of rows (4 MiB): a window of many chunks comes
 * out whole and in order. */
static void windows_longer_than_a_chunk_read_whole(void)
{
    enum { W = 2000, H = 13, B = 300 }; /* 600 kB a row: 6 rows a chunk */
    uint8_t *v = malloc((size_t)W * H * B);
    for (size_t i = 0; i < (size_t)W * H * B; i++)
        v[i] = (uint8_t)((i * 2654435761u) >> 13);
    const char *path = fixture_path("chunks.tif");
    char *opts[] = {"INTERLEAVE=BAND", NULL};
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, W, H, B, GDT_Byte, opts);
    CHECK(GDALDatasetRasterIO(ds, GF_Write, 0, 0, W, H, v, W, H, GDT_Byte, B, NULL, B, W * B, 1) ==
          CE_None);
    GDALClose(ds);
    cn_raster *r = open_ok(path);
    float *out = malloc((size_t)W * H * B * sizeof *out);
    CHECK_OK(cn_raster_read(r, 0, 0, W, H, out, NULL));
    size_t wrong = 0;
    for (size_t i = 0; i < (size_t)W * H * B; i++)
        wrong += out[i] != v[i];
    CHECK(wrong == 0);
    cn_raster_close(r);
    free(out);
    free(v);
}

static void window_outside_the_raster_is_refused(void)
{
    const char *path = fixture_path("bounds.tif");
    fixture_raster(path, "GTiff", 6, 5, 1, GDT_Byte, NULL, false, 0);
    cn_raster *r = open_ok(path);
    float out[64];
    CHECK(cn_raster_read(r, 4, 0, 3, 1, out, NULL) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), path) && strstr(cn_last_error(), "6 x 5"));
    CHECK(cn_raster_read(r, -1, 0, 1, 1, out, NULL) == CN_EINVAL);
    CHECK(cn_raster_read(r, 0, 0, 0, 1, out, NULL) == CN_EINVAL);
    CHECK(cn_raster_read(r, 0, 5, 1, 1, out, NULL) == CN_EINVAL);
    cn_raster_close(r);
}

static void reflect_read_mirrors_without_repeating_the_edge(void)
{
    float v[4 * 3];
    for (int i = 0; i < 12; i++)
        v[i] = (float)i; /* row y, col x = 4y + x */
    const char *path = fixture_path("reflect.tif");
    fixture_raster(path, "GTiff", 4, 3, 1, GDT_Float32, v, false, 0);
    cn_raster *r = open_ok(path);
    float out[8 * 7];
    uint8_t valid[8 * 7];
    CHECK_OK(cn_raster_read_reflect(r, -2, -2, 8, 7, out, valid));
    /* columns -2..5 → 2 1 0 1 2 3 2 1; rows -2..4 → 2 1 0 1 2 1 0 */
    const int cols[8] = {2, 1, 0, 1, 2, 3, 2, 1}, rows[7] = {2, 1, 0, 1, 2, 1, 0};
    for (int j = 0; j < 7; j++)
        for (int i = 0; i < 8; i++)
            CHECK(out[j * 8 + i] == (float)(rows[j] * 4 + cols[i]));
    CHECK(cn_raster_read_reflect(r, 4, 0, 2, 2, out, valid) == CN_EINVAL);
    cn_raster_close(r);
}

static void labels_read_as_integers_with_nodata_as_zero(void)
{
    const float v[4] = {0, 3, 255, 12};
    const char *path = fixture_path("labels.tif");
    fixture_raster(path, "GTiff", 4, 1, 1, GDT_Byte, v, true, 255);
    cn_raster *r = open_ok(path);
    int32_t out[4];
    CHECK_OK(cn_raster_read_labels(r, 0, 0, 4, 1, out));
    CHECK(out[0] == 0 && out[1] == 3 && out[2] == 0 && out[3] == 12);
    cn_raster_close(r);
}

static void labels_that_are_not_class_ids_are_refused(void)
{
    const float bad[3] = {2.5f, -1.0f, 70000.0f};
    const char *what[3] = {"2.5", "-1", "70000"};
    for (int i = 0; i < 3; i++) {
        float v[2] = {1, bad[i]};
        const char *path = fixture_path("badlabels.tif");
        fixture_raster(path, "GTiff", 2, 1, 1, GDT_Float32, v, false, 0);
        cn_raster *r = open_ok(path);
        int32_t out[2];
        CHECK(cn_raster_read_labels(r, 0, 0, 2, 1, out) == CN_EFORMAT);
        CHECK(strstr(cn_last_error(), path) && strstr(cn_last_error(), what[i]) &&
              strstr(cn_last_error(), "(1, 0)"));
        cn_raster_close(r);
    }
}

static void missing_file_is_refused(void)
{
    cn_raster *r = (cn_raster *)1;
    const char *path = fixture_path("nothing-here.tif");
    CHECK(cn_raster_open(path, &r) == CN_EIO && r == NULL);
    CHECK(strstr(cn_last_error(), path) && strstr(cn_last_error(), "no such file"));
}

static void a_text_file_is_not_a_raster(void)
{
    const char *path = fixture_path("notes.txt");
    fixture_write_text(path, "field notes, not pixels\n");
    cn_raster *r = NULL;
    CHECK(cn_raster_open(path, &r) == CN_EFORMAT && r == NULL);
    CHECK(strstr(cn_last_error(), path) && strstr(cn_last_error(), "not a raster GDAL can read"));
}

static void zero_size_rasters_are_refused(void)
{
    const char *empty = fixture_path("empty.tif"), *vrt = fixture_path("zero.vrt"),
               *nobands = fixture_path("nobands.vrt");
    fixture_write_text(empty, "");
    fixture_write_text(vrt, "<VRTDataset rasterXSize=\"0\" rasterYSize=\"10\">"
                            "<VRTRasterBand dataType=\"Byte\" band=\"1\"/></VRTDataset>\n");
    fixture_write_text(nobands, "<VRTDataset rasterXSize=\"10\" rasterYSize=\"10\"></VRTDataset>\n");
    const char *paths[3] = {empty, vrt, nobands};
    for (int i = 0; i < 3; i++) {
        cn_raster *r = NULL;
        CHECK(cn_raster_open(paths[i], &r) == CN_EFORMAT && r == NULL);
        CHECK(strstr(cn_last_error(), paths[i]) &&
              strstr(cn_last_error(), "not a raster GDAL can read"));
    }
}

/* Cuts path to keep bytes. */
static void truncate_to(const char *path, long keep)
{
    CHECK(truncate(path, keep) == 0);
}

static void truncated_geotiff_fails_to_open_or_to_read(void)
{
    float v[64 * 64 * 3];
    for (int i = 0; i < 64 * 64 * 3; i++)
        v[i] = (float)((i * 2654435761u) % 4000);
    const char *path = fixture_path("cut.tif");
    const long keeps[2] = {100, 0}; /* 0: half of the file */
    for (int k = 0; k < 2; k++) {
        char *opts[] = {"TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "COMPRESS=DEFLATE", NULL};
        GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path, 64, 64, 3, GDT_Int16,
                                     opts);
        CHECK(GDALDatasetRasterIO(ds, GF_Write, 0, 0, 64, 64, v, 64, 64, GDT_Float32, 3, NULL,
                                  12, 64 * 12, 4) == CE_None);
        GDALClose(ds);
        struct stat st;
        stat(path, &st);
        truncate_to(path, keeps[k] ? keeps[k] : (long)st.st_size / 2);
        cn_raster *r = NULL;
        cn_status s = cn_raster_open(path, &r);
        if (s == CN_OK) {
            float *out = malloc(sizeof v);
            s = cn_raster_read(r, 0, 0, 64, 64, out, NULL);
            CHECK(s == CN_EIO);
            free(out);
            cn_raster_close(r);
        } else {
            CHECK(s == CN_EFORMAT);
        }
        CHECK(strstr(cn_last_error(), path) != NULL);
    }
}

static void same_grid_accepts_equal_grids_and_names_differences(void)
{
    const char *a = fixture_path("grid_a.tif"), *b = fixture_path("grid_b.tif");
    fixture_raster(a, "GTiff", 5, 4, 2, GDT_Byte, NULL, false, 0);
    fixture_raster(b, "GTiff", 5, 4, 1, GDT_UInt16, NULL, false, 0);
    cn_raster *ra = open_ok(a), *rb = open_ok(b);
    CHECK_OK(cn_raster_same_grid(ra, rb));
    cn_raster_close(rb);
    /* a different size */
    fixture_raster(b, "GTiff", 5, 3, 1, GDT_Byte, NULL, false, 0);
    rb = open_ok(b);
    CHECK(cn_raster_same_grid(ra, rb) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "5 x 3") && strstr(cn_last_error(), "5 x 4"));
    cn_raster_close(rb);
    /* shifted by half a pixel */
    fixture_raster(b, "GTiff", 5, 4, 1, GDT_Byte, NULL, false, 0);
    GDALDatasetH ds = GDALOpen(b, GA_Update);
    double gt[6];
    memcpy(gt, fixture_gt, sizeof gt);
    gt[0] += 15;
    GDALSetGeoTransform(ds, gt);
    GDALClose(ds);
    rb = open_ok(b);
    CHECK(cn_raster_same_grid(ra, rb) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "geotransform") != NULL);
    cn_raster_close(rb);
    /* another CRS */
    fixture_raster(b, "GTiff", 5, 4, 1, GDT_Byte, NULL, false, 0);
    ds = GDALOpen(b, GA_Update);
    char *wkt = fixture_wkt(32618);
    GDALSetProjection(ds, wkt);
    CPLFree(wkt);
    GDALClose(ds);
    rb = open_ok(b);
    CHECK(cn_raster_same_grid(ra, rb) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "CRS") && strstr(cn_last_error(), "18N"));
    cn_raster_close(rb);
    cn_raster_close(ra);
}

static void reads_envi_and_vrt(void)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    const char *envi = fixture_path("scene.img");
    fixture_raster(envi, "ENVI", 3, 1, 2, GDT_Int16, v, false, 0);
    char xml[2048];
    snprintf(xml, sizeof xml,
             "<VRTDataset rasterXSize=\"3\" rasterYSize=\"1\"><VRTRasterBand dataType=\"Float32\" "
             "band=\"1\"><SimpleSource><SourceFilename>%s</SourceFilename><SourceBand>2"
             "</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>\n", envi);
    const char *vrt = fixture_path("band2.vrt");
    fixture_write_text(vrt, xml);
    cn_raster *r = open_ok(envi);
    float out[6];
    CHECK_OK(cn_raster_read(r, 0, 0, 3, 1, out, NULL));
    for (int i = 0; i < 6; i++)
        CHECK(out[i] == v[i]);
    cn_raster_close(r);
    r = open_ok(vrt);
    CHECK_OK(cn_raster_read(r, 0, 0, 3, 1, out, NULL));
    CHECK(out[0] == 2 && out[1] == 4 && out[2] == 6);
    cn_raster_close(r);
}

int main(void)
{
    fixture_init("raster");
    RUN(reads_every_numeric_type_as_float);
    RUN(reports_size_georeference_and_nodata);
    RUN(nodata_in_any_band_marks_the_pixel_invalid);
    RUN(nan_and_inf_mark_the_pixel_invalid);
    RUN(float64_nodata_is_compared_in_float64);
    RUN(int32_nodata_is_compared_exactly);
    RUN(window_reads_the_right_pixels);
    RUN(every_layout_reads_the_pixels_written);
    RUN(windows_longer_than_a_chunk_read_whole);
    RUN(window_outside_the_raster_is_refused);
    RUN(reflect_read_mirrors_without_repeating_the_edge);
    RUN(labels_read_as_integers_with_nodata_as_zero);
    RUN(labels_that_are_not_class_ids_are_refused);
    RUN(missing_file_is_refused);
    RUN(a_text_file_is_not_a_raster);
    RUN(zero_size_rasters_are_refused);
    RUN(truncated_geotiff_fails_to_open_or_to_read);
    RUN(same_grid_accepts_equal_grids_and_names_differences);
    RUN(reads_envi_and_vrt);
    return CHECK_EXIT();
}
