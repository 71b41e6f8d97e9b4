/*
 * test_synth.c — the synthetic field scene: its default shape, georeference and nodata frame,
 * pixel-identical output for a seed whatever the thread count, label map aligned with the image
 * and carrying the class names, distinct class spectra, and refusals that leave no file.
 */
#include "check.h"
#include "cropnet.h"
#include "raster_fixture.h"

#include <cpl_string.h>
#include <ogr_srs_api.h>

/* Image pixels (band-sequential, int16) and labels (uint16) of a written scene. */
typedef struct scene {
    int w, h, bands;
    int16_t *px;
    uint16_t *lab;
} scene;

static bool scene_read(const char *image, const char *labels, scene *s)
{
    memset(s, 0, sizeof *s);
    GDALDatasetH a = GDALOpen(image, GA_ReadOnly), b = GDALOpen(labels, GA_ReadOnly);
    CHECK(a && b);
    bool ok = a && b;
    if (ok) {
        s->w = GDALGetRasterXSize(a);
        s->h = GDALGetRasterYSize(a);
        s->bands = GDALGetRasterCount(a);
        size_t n = (size_t)s->w * (size_t)s->h;
        s->px = malloc(n * (size_t)s->bands * sizeof *s->px);
        s->lab = malloc(n * sizeof *s->lab);
        ok = GDALDatasetRasterIO(a, GF_Read, 0, 0, s->w, s->h, s->px, s->w, s->h, GDT_Int16,
                                 s->bands, NULL, 0, 0, 0) == CE_None &&
             GDALRasterIO(GDALGetRasterBand(b, 1), GF_Read, 0, 0, s->w, s->h, s->lab, s->w, s->h,
                          GDT_UInt16, 0, 0) == CE_None;
        CHECK(ok);
    }
    if (a)
        GDALClose(a);
    if (b)
        GDALClose(b);
    return ok;
}

static void scene_free(scene *s)
{
    free(s->px);
    free(s->lab);
}

/* Writes the scene of o as s.tif and l.tif in the test's folder and reads them back into s; false
 * (the failure CHECKed) when either step fails. */
static bool synth_and_read(const cn_synth_options *o, scene *s)
{
    CHECK_OK(cn_synth_write(fixture_path("s.tif"), fixture_path("l.tif"), o));
    return scene_read(fixture_path("s.tif"), fixture_path("l.tif"), s);
}

static int16_t at(const scene *s, int x, int y, int b)
{
    return s->px[((size_t)b * (size_t)s->h + (size_t)y) * (size_t)s->w + (size_t)x];
}

static void test_default_scene_is_a_georeferenced_int16_cube(void)
{
    fixture_init("synth_default");
    const char *img = fixture_path("scene.tif"), *lab = fixture_path("labels.tif");
    CHECK_OK(cn_synth_write(img, lab, NULL));
    GDALDatasetH ds = GDALOpen(img, GA_ReadOnly);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK(GDALGetRasterXSize(ds) == 256 && GDALGetRasterYSize(ds) == 256);
    CHECK(GDALGetRasterCount(ds) == 32);
    double gt[6], want[6];
    cn_synth_geotransform(want);
    CHECK(GDALGetGeoTransform(ds, gt) == CE_None && memcmp(gt, want, sizeof gt) == 0);
    CHECK(want[1] == 3.7 && want[5] == -3.7);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(GDALGetProjectionRef(ds));
    CHECK(srs && OSRAutoIdentifyEPSG(srs) == OGRERR_NONE);
    const char *code = srs ? OSRGetAuthorityCode(srs, NULL) : NULL;
    CHECK(code && strcmp(code, "32610") == 0);
    OSRDestroySpatialReference(srs);
    for (int b = 1; b <= 32; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b);
        int has = 0;
        CHECK(GDALGetRasterDataType(band) == GDT_Int16);
        CHECK(GDALGetRasterNoDataValue(band, &has) == CN_SYNTH_NODATA && has);
    }
    const char *comp = GDALGetMetadataItem(ds, "COMPRESSION", "IMAGE_STRUCTURE");
    const char *il = GDALGetMetadataItem(ds, "INTERLEAVE", "IMAGE_STRUCTURE");
    CHECK(comp && strcmp(comp, "DEFLATE") == 0 && il && strcmp(il, "PIXEL") == 0);
    int bx, by;
    GDALGetBlockSize(GDALGetRasterBand(ds, 1), &bx, &by);
    CHECK(bx == 256 && by == 256);
    GDALClose(ds);
}

static void test_same_seed_gives_identical_pixels_whatever_the_threads(void)
{
    fixture_init("synth_determinism");
    cn_synth_options o;
    cn_synth_defaults(&o);
    o.width = 300; /* tiles at the right and bottom edges are partial */
    o.height = 270;
    o.bands = 12;
    o.threads = 1;
    CHECK_OK(cn_synth_write(fixture_path("a.tif"), fixture_path("al.tif"), &o));
    o.threads = 3;
    CHECK_OK(cn_synth_write(fixture_path("b.tif"), fixture_path("bl.tif"), &o));
    o.seed = 2;
    CHECK_OK(cn_synth_write(fixture_path("c.tif"), fixture_path("cl.tif"), &o));
    scene a, b, c;
    if (scene_read(fixture_path("a.tif"), fixture_path("al.tif"), &a) &&
        scene_read(fixture_path("b.tif"), fixture_path("bl.tif"), &b) &&
        scene_read(fixture_path("c.tif"), fixture_path("cl.tif"), &c)) {
        size_t n = (size_t)a.w * (size_t)a.h;
        CHECK(memcmp(a.px, b.px, n * 12 * sizeof *a.px) == 0);
        CHECK(memcmp(a.lab, b.lab, n * sizeof *a.lab) == 0);
        CHECK(memcmp(a.px, c.px, n * 12 * sizeof *a.px) != 0); /* another seed, another scene */
        CHECK(memcmp(a.lab, c.lab, n * sizeof *a.lab) != 0);
    }
    scene_free(&a);
    scene_free(&b);
    scene_free(&c);
}

static void test_nodata_frame_has_nodata_everywhere_and_label_0(void)
{
    fixture_init("synth_border");
    cn_synth_options o;
    cn_synth_defaults(&o);
    o.bands = 8;
    scene s;
    if (!synth_and_read(&o, &s))
        return;
    const int border = 256 / 32; /* the frame is 1/32 of the shorter side */
    int frame_bad = 0, inside_nodata = 0, frame = 0;
    for (int y = 0; y < s.h; y++)
        for (int x = 0; x < s.w; x++) {
            bool in_frame = x < border || y < border || x >= s.w - border || y >= s.h - border;
            for (int b = 0; b < s.bands; b++) {
                bool nd = at(&s, x, y, b) == CN_SYNTH_NODATA;
                frame_bad += in_frame && !nd;
                inside_nodata += !in_frame && nd;
            }
            frame += in_frame;
            frame_bad += in_frame && s.lab[y * s.w + x] != 0;
        }
    CHECK(frame == 256 * 256 - 240 * 240);
    CHECK(frame_bad == 0);
    CHECK(inside_nodata == 0);
    scene_free(&s);
}

static void test_labels_share_the_image_grid_and_name_the_classes(void)
{
    fixture_init("synth_labels");
    cn_synth_options o;
    cn_synth_defaults(&o);
    o.bands = 8;
    o.classes = 7;
    CHECK_OK(cn_synth_write(fixture_path("s.tif"), fixture_path("l.tif"), &o));
    GDALDatasetH a = GDALOpen(fixture_path("s.tif"), GA_ReadOnly);
    GDALDatasetH b = GDALOpen(fixture_path("l.tif"), GA_ReadOnly);
    CHECK(a && b);
    if (a && b) {
        double ga[6], gb[6];
        CHECK(GDALGetRasterXSize(b) == 256 && GDALGetRasterYSize(b) == 256);
        CHECK(GDALGetGeoTransform(a, ga) == CE_None && GDALGetGeoTransform(b, gb) == CE_None);
        CHECK(memcmp(ga, gb, sizeof ga) == 0);
        CHECK(strcmp(GDALGetProjectionRef(a), GDALGetProjectionRef(b)) == 0);
        GDALRasterBandH band = GDALGetRasterBand(b, 1);
        GDALGetMetadata(band, NULL); /* GDAL 3.6 reads the names' sidecar on this */
        char **names = GDALGetRasterCategoryNames(band);
        CHECK(names && CSLCount(names) == 8);
        if (names && CSLCount(names) == 8) {
            CHECK(strcmp(names[0], "unclassified") == 0);
            CHECK(strcmp(names[1], "Broccoli") == 0 && strcmp(names[5], "Lettuce") == 0);
            CHECK(strcmp(names[7], cn_synth_class_name(7)) == 0);
        }
        GDALColorTableH ct = GDALGetRasterColorTable(band);
        CHECK(ct && GDALGetColorEntryCount(ct) >= 8);
        int has = 0;
        CHECK(GDALGetRasterDataType(band) == GDT_Byte);
        CHECK(GDALGetRasterNoDataValue(band, &has) == 0 && has);
    }
    if (a)
        GDALClose(a);
    if (b)
        GDALClose(b);
    scene s;
    if (!scene_read(fixture_path("s.tif"), fixture_path("l.tif"), &s))
        return;
    int count[8] = {0}, unlabelled_inside = 0;
    for (int i = 0; i < s.w * s.h; i++) {
        CHECK(s.lab[i] <= 7);
        count[s.lab[i] <= 7 ? s.lab[i] : 0]++;
        unlabelled_inside += s.lab[i] == 0 && s.px[i] != CN_SYNTH_NODATA; /* roads, hedges */
    }
    for (int k = 1; k <= 7; k++)
        CHECK(count[k] > 1000); /* every class has fields */
    CHECK(unlabelled_inside > 0 && unlabelled_inside < s.w * s.h / 5);
    scene_free(&s);
}

/* Each class's mean spectrum lies far from every other's, relative to the noise. */
static void test_classes_have_distinct_spectra(void)
{
    fixture_init("synth_spectra");
    cn_synth_options o;
    cn_synth_defaults(&o);
    scene s;
    if (!synth_and_read(&o, &s))
        return;
    double mean[7][32] = {{0}};
    int n[7] = {0};
    for (int y = 0; y < s.h; y++)
        for (int x = 0; x < s.w; x++) {
            int k = s.lab[y * s.w + x];
            if (k < 1 || k > 6)
                continue;
            n[k]++;
            for (int b = 0; b < 32; b++)
                mean[k][b] += at(&s, x, y, b);
        }
    for (int k = 1; k <= 6; k++)
        for (int b = 0; b < 32; b++)
            mean[k][b] /= n[k] ? n[k] : 1;
    for (int i = 1; i <= 6; i++)
        for (int j = i + 1; j <= 6; j++) {
            double d = 0;
            for (int b = 0; b < 32; b++)
                d += (mean[i][b] - mean[j][b]) * (mean[i][b] - mean[j][b]);
            if (!(sqrt(d / 32) > 50))
                fprintf(stderr, "  classes %d and %d: rms difference %.1f\n", i, j, sqrt(d / 32));
            CHECK(sqrt(d / 32) > 50); /* reflectance x 10000; the noise is ~25-60 per band */
        }
    /* vegetation looks like vegetation: a red edge between red (~650 nm) and NIR (~850 nm) */
    int red = (int)((650.0 - 400) / 2100 * 32), nir = (int)((850.0 - 400) / 2100 * 32);
    CHECK(mean[2][nir] > 2 * mean[2][red]); /* Celery */
    CHECK(mean[3][nir] < 1.5 * mean[3][red]); /* Fallow: bare soil */
    scene_free(&s);
}

static void test_any_size_bands_and_classes(void)
{
    fixture_init("synth_sizes");
    cn_synth_options o;
    cn_synth_defaults(&o);
    o.width = 100;
    o.height = 40;
    o.bands = 3;
    o.classes = 2;
    o.seed = 99;
    scene s;
    if (synth_and_read(&o, &s)) {
        CHECK(s.w == 100 && s.h == 40 && s.bands == 3);
        int max = 0;
        for (int i = 0; i < s.w * s.h; i++)
            max = s.lab[i] > max ? s.lab[i] : max;
        CHECK(max == 2);
    }
    scene_free(&s);
}

static void test_bad_options_and_outputs_leave_no_file(void)
{
    fixture_init("synth_refusals");
    cn_synth_options o;
    struct { int w, h, bands, classes; } bad[] = {
        {31, 256, 32, 6}, {256, 0, 32, 6}, {256, 256, 2, 6}, {256, 256, 32, 1},
        {256, 256, 32, CN_SYNTH_MAX_CLASSES + 1}, {256, 256, CN_SYNTH_MAX_BANDS + 1, 6},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_synth_defaults(&o);
        o.width = bad[i].w;
        o.height = bad[i].h;
        o.bands = bad[i].bands;
        o.classes = bad[i].classes;
        CHECK(cn_synth_write(fixture_path("s.tif"), fixture_path("l.tif"), &o) == CN_EINVAL);
        CHECK(strchr(cn_last_error(), '\n') == NULL);
    }
    CHECK(cn_synth_write(fixture_path("s.tif"), fixture_path("s.tif"), NULL) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "different files") != NULL);
    char dotted[1100];
    snprintf(dotted, sizeof dotted, "%s/./s.tif", fixture_dir);
    CHECK(cn_synth_write(fixture_path("s.tif"), dotted, NULL) == CN_EINVAL);
    CHECK(cn_synth_write(fixture_path("none/s.tif"), fixture_path("l.tif"), NULL) == CN_EIO);
    CHECK(cn_synth_write(fixture_path("s.tif"), fixture_path("none/l.tif"), NULL) == CN_EIO);
    CHECK(fixture_count_files() == 0);
}

static int cancel_late(double f, const char *msg, void *data)
{
    (void)msg;
    (void)data;
    return f < 0.5;
}

static void test_cancelled_synth_leaves_neither_file(void)
{
    fixture_init("synth_cancel");
    cn_synth_options o;
    cn_synth_defaults(&o);
    o.width = 600;
    o.bands = 4;
    o.progress = cancel_late;
    CHECK(cn_synth_write(fixture_path("s.tif"), fixture_path("l.tif"), &o) == CN_ECANCELLED);
    CHECK(fixture_count_files() == 0);
}

static void test_existing_files_survive_a_failure(void)
{
    fixture_init("synth_keep");
    fixture_write_text(fixture_path("s.tif"), "old image");
    fixture_write_text(fixture_path("l.tif"), "old labels");
    cn_synth_options o;
    cn_synth_defaults(&o);
    o.width = 600;
    o.bands = 4;
    o.progress = cancel_late;
    CHECK(cn_synth_write(fixture_path("s.tif"), fixture_path("l.tif"), &o) == CN_ECANCELLED);
    char *a = fixture_read_text(fixture_path("s.tif"));
    char *b = fixture_read_text(fixture_path("l.tif"));
    CHECK(a && strcmp(a, "old image") == 0 && b && strcmp(b, "old labels") == 0);
    free(a);
    free(b);
    CHECK(fixture_count_files() == 2);
}

int main(void)
{
    RUN(test_default_scene_is_a_georeferenced_int16_cube);
    RUN(test_same_seed_gives_identical_pixels_whatever_the_threads);
    RUN(test_nodata_frame_has_nodata_everywhere_and_label_0);
    RUN(test_labels_share_the_image_grid_and_name_the_classes);
    RUN(test_classes_have_distinct_spectra);
    RUN(test_any_size_bands_and_classes);
    RUN(test_bad_options_and_outputs_leave_no_file);
    RUN(test_cancelled_synth_leaves_neither_file);
    RUN(test_existing_files_survive_a_failure);
    return CHECK_EXIT();
}
