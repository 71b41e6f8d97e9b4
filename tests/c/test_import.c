/*
 * test_import.c — MAT files to GeoTIFF: SalinasA as distributed (values checked element by
 * element against matio's own reading, in the documented column-major layout), v7.3 files made
 * here, the type mapping, the choice of variable, benchmark class names, and every refusal:
 * truncated and mutated files, not a MAT file, unknown, non-numeric, 1-D and absurd variables,
 * bad outputs.
 *
 * SalinasA is read from ../shared/data/hsi beside the project (or $CROPNET_DATA/hsi); those tests
 * skip with a message only when that folder is absent.
 */
#include "check.h"
#include "cropnet.h"
#include "raster_fixture.h"

#include <cpl_string.h>
#include <matio.h>
#include <stdint.h>

static char hsi_dir[1024];

/* The folder of the real scenes, or NULL (with a message) when absent. */
static const char *hsi(void)
{
    const char *env = getenv("CROPNET_DATA");
    if (env && *env) {
        snprintf(hsi_dir, sizeof hsi_dir, "%s/hsi", env);
    } else {
        /* __FILE__ is this file's absolute path: the project root is two folders up */
        const char *tail = strstr(__FILE__, "tests/c/test_import.c");
        snprintf(hsi_dir, sizeof hsi_dir, "%.*s../shared/data/hsi",
                 tail ? (int)(tail - __FILE__) : 0, __FILE__);
    }
    struct stat sb;
    if (stat(hsi_dir, &sb) != 0) {
        printf("skip: %s is absent\n", hsi_dir);
        return NULL;
    }
    return hsi_dir;
}

static const char *hsi_file(const char *name)
{
    static char p[1200];
    snprintf(p, sizeof p, "%s/%s", hsi_dir, name);
    return p;
}

/* A MAT file holding the given variables (NULL-terminated), v5 compressed or v7.3. */
static void write_mat(const char *path, enum mat_ft version, matvar_t **vars)
{
    mat_t *m = Mat_CreateVer(path, NULL, version);
    CHECK(m != NULL);
    if (!m)
        return;
    for (size_t i = 0; vars[i]; i++) {
        CHECK(Mat_VarWrite(m, vars[i], MAT_COMPRESSION_ZLIB) == 0);
        Mat_VarFree(vars[i]);
    }
    Mat_Close(m);
}

static matvar_t *int16_cube(const char *name, size_t rows, size_t cols, size_t bands)
{
    size_t dims[3] = {rows, cols, bands};
    int16_t *d = malloc(rows * cols * bands * sizeof *d);
    for (size_t b = 0; b < bands; b++)
        for (size_t c = 0; c < cols; c++)
            for (size_t r = 0; r < rows; r++)
                d[r + rows * (c + cols * b)] = (int16_t)(1000 * b + 10 * c + r - 50);
    matvar_t *v = Mat_VarCreate(name, MAT_C_INT16, MAT_T_INT16, 3, dims, d, 0);
    free(d); /* Mat_VarCreate copies (no MAT_F_DONT_COPY_DATA) */
    return v;
}

static matvar_t *array2d(const char *name, enum matio_classes c, enum matio_types t,
                         size_t rows, size_t cols, const void *data)
{
    size_t dims[2] = {rows, cols};
    return Mat_VarCreate(name, c, t, 2, dims, (void *)data, 0);
}

static GDALDatasetH open_ro(const char *path)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CHECK(ds != NULL);
    return ds;
}

/* Band 1's category names; GDAL 3.6 loads the .aux.xml sidecar that holds them only once the
 * band's metadata is asked for. */
static char **category_names(GDALDatasetH ds)
{
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    GDALGetMetadata(b, NULL);
    return GDALGetRasterCategoryNames(b);
}

/* --------------------------------------------------------------------- SalinasA */

static void test_salinasA_cube_keeps_shape_type_and_no_georeference(void)
{
    if (!hsi())
        return;
    fixture_init("import_cube");
    const char *out = fixture_path("salinasA.tif");
    cn_import_report rep;
    CHECK_OK(cn_mat_import(hsi_file("SalinasA_corrected.mat"), out, NULL, &rep));
    CHECK(strcmp(rep.variable, "salinasA_corrected") == 0 && rep.picked && rep.importable == 1);
    CHECK(rep.kind == CN_SCENE_IMAGE && rep.version == 5);
    CHECK(rep.width == 86 && rep.height == 83 && rep.bands == 204);
    /* MATLAB's class is double, stored as int16 in the file: the GeoTIFF keeps int16 */
    CHECK(strcmp(rep.gdal_type, "Int16") == 0 && strcmp(rep.mat_class, "double") == 0);
    CHECK(rep.stored_as && strcmp(rep.stored_as, "int16") == 0);
    GDALDatasetH ds = open_ro(out);
    if (!ds)
        return;
    CHECK(GDALGetRasterXSize(ds) == 86 && GDALGetRasterYSize(ds) == 83);
    CHECK(GDALGetRasterCount(ds) == 204);
    CHECK(GDALGetRasterDataType(GDALGetRasterBand(ds, 1)) == GDT_Int16);
    double gt[6];
    CHECK(GDALGetGeoTransform(ds, gt) != CE_None); /* none: a .mat has no georeference */
    CHECK(strcmp(GDALGetProjectionRef(ds), "") == 0);
    const char *il = GDALGetMetadataItem(ds, "INTERLEAVE", "IMAGE_STRUCTURE");
    const char *comp = GDALGetMetadataItem(ds, "COMPRESSION", "IMAGE_STRUCTURE");
    CHECK(il && strcmp(il, "PIXEL") == 0);
    CHECK(comp && strcmp(comp, "DEFLATE") == 0);
    int bx, by;
    GDALGetBlockSize(GDALGetRasterBand(ds, 1), &bx, &by);
    CHECK(bx == 256 && by == 256);
    GDALClose(ds);
}

static void test_salinasA_cube_equals_matio_in_column_major_order(void)
{
    if (!hsi())
        return;
    fixture_init("import_values");
    const char *out = fixture_path("salinasA.tif");
    CHECK_OK(cn_mat_import(hsi_file("SalinasA_corrected.mat"), out, NULL, NULL));
    mat_t *m = Mat_Open(hsi_file("SalinasA_corrected.mat"), MAT_ACC_RDONLY);
    matvar_t *v = m ? Mat_VarRead(m, "salinasA_corrected") : NULL;
    GDALDatasetH ds = open_ro(out);
    CHECK(v && v->rank == 3 && v->dims[0] == 83 && v->dims[1] == 86 && v->dims[2] == 204);
    CHECK(v && v->class_type == MAT_C_DOUBLE); /* matio hands out the class, double */
    if (v && ds && v->class_type == MAT_C_DOUBLE) {
        const size_t R = 83, C = 86, B = 204;
        const double *mat = v->data;
        int16_t *tif = malloc(R * C * B * sizeof *tif); /* band-sequential, row-major */
        CHECK(GDALDatasetRasterIO(ds, GF_Read, 0, 0, (int)C, (int)R, tif, (int)C, (int)R,
                                  GDT_Int16, (int)B, NULL, 0, 0, 0) == CE_None);
        /* a few elements by hand: (r, c, b) is at r + rows*(c + cols*b) in the MAT array and at
         * band b, row r, column c in the GeoTIFF */
        const size_t picks[][3] = {{0, 0, 0}, {82, 85, 203}, {10, 20, 30}, {41, 3, 100},
                                   {5, 77, 150}};
        for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
            size_t r = picks[i][0], c = picks[i][1], b = picks[i][2];
            CHECK(tif[(b * R + r) * C + c] == mat[r + R * (c + C * b)]);
        }
        size_t mismatches = 0;
        int lo = INT16_MAX, hi = INT16_MIN;
        for (size_t b = 0; b < B; b++)
            for (size_t r = 0; r < R; r++)
                for (size_t c = 0; c < C; c++) {
                    int16_t x = tif[(b * R + r) * C + c];
                    mismatches += x != mat[r + R * (c + C * b)];
                    lo = x < lo ? x : lo;
                    hi = x > hi ? x : hi;
                }
        CHECK(mismatches == 0);
        CHECK(lo == -9 && hi == 8373); /* as ../shared/data/README.md documents */
        free(tif);
    }
    if (ds)
        GDALClose(ds);
    Mat_VarFree(v);
    if (m)
        Mat_Close(m);
}

static void test_salinasA_ground_truth_becomes_named_label_map(void)
{
    if (!hsi())
        return;
    fixture_init("import_gt");
    const char *out = fixture_path("salinasA_gt.tif");
    cn_import_report rep;
    CHECK_OK(cn_mat_import(hsi_file("SalinasA_gt.mat"), out, NULL, &rep));
    CHECK(rep.kind == CN_SCENE_LABELS && rep.max_id == 14 && rep.labelled == 5348);
    CHECK(rep.benchmark && strcmp(rep.benchmark->key, "salinas") == 0);
    CHECK(strcmp(rep.gdal_type, "Byte") == 0);
    GDALDatasetH ds = open_ro(out);
    if (!ds)
        return;
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    CHECK(GDALGetRasterDataType(b) == GDT_Byte);
    int has = 0;
    CHECK(GDALGetRasterNoDataValue(b, &has) == 0 && has);
    uint8_t *px = malloc(86 * 83);
    CHECK(GDALRasterIO(b, GF_Read, 0, 0, 86, 83, px, 86, 83, GDT_Byte, 0, 0) == CE_None);
    int count[256] = {0}, labelled = 0;
    for (int i = 0; i < 86 * 83; i++) {
        count[px[i]]++;
        labelled += px[i] != 0;
    }
    CHECK(labelled == 5348);
    for (int id = 0; id < 256; id++) {
        bool expected = id == 0 || id == 1 || (id >= 10 && id <= 14);
        CHECK((count[id] > 0) == expected);
    }
    char **names = category_names(ds);
    CHECK(names && CSLCount(names) == 15);
    if (names && CSLCount(names) == 15) {
        CHECK(strcmp(names[0], "unclassified") == 0);
        CHECK(strcmp(names[1], "Brocoli_green_weeds_1") == 0);
        CHECK(strcmp(names[10], "Corn_senesced_green_weeds") == 0);
        CHECK(strcmp(names[14], "Lettuce_romaine_7wk") == 0);
        CHECK(strcmp(names[5], "") == 0); /* absent from SalinasA */
    }
    GDALColorTableH ct = GDALGetRasterColorTable(b);
    CHECK(ct != NULL);
    if (ct) {
        const cn_benchmark *bm = cn_benchmark_find("salinas");
        const GDALColorEntry *e = GDALGetColorEntry(ct, 10);
        CHECK(e && e->c1 == bm->classes[9].rgb[0] && e->c2 == bm->classes[9].rgb[1] &&
              e->c3 == bm->classes[9].rgb[2] && e->c4 == 255);
    }
    free(px);
    GDALClose(ds);
}

/* --------------------------------------------------------------------- v7.3 and types */

static void test_v73_cube_round_trips(void)
{
    fixture_init("import_v73");
    const char *src = fixture_path("cube73.mat"), *out = fixture_path("cube73.tif");
    matvar_t *vars[] = {int16_cube("cube", 7, 5, 3), NULL};
    write_mat(src, MAT_FT_MAT73, vars);
    cn_import_report rep;
    CHECK_OK(cn_mat_import(src, out, NULL, &rep));
    CHECK(rep.version == 73 && rep.width == 5 && rep.height == 7 && rep.bands == 3);
    GDALDatasetH ds = open_ro(out);
    if (!ds)
        return;
    int16_t px[3 * 7 * 5];
    CHECK(GDALDatasetRasterIO(ds, GF_Read, 0, 0, 5, 7, px, 5, 7, GDT_Int16, 3, NULL, 0, 0, 0) ==
          CE_None);
    int bad = 0;
    for (int b = 0; b < 3; b++)
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 5; c++)
                bad += px[(b * 7 + r) * 5 + c] != 1000 * b + 10 * c + r - 50;
    CHECK(bad == 0);
    GDALClose(ds);
}

static void test_v73_labels_round_trip_as_uint16_past_255(void)
{
    fixture_init("import_v73_labels");
    const char *src = fixture_path("gt73.mat"), *out = fixture_path("gt73.tif");
    uint16_t d[4 * 3] = {0, 1, 2, 300, 0, 0, 5, 5, 5, 1, 0, 2}; /* column-major 4 x 3 */
    matvar_t *vars[] = {array2d("truth", MAT_C_UINT16, MAT_T_UINT16, 4, 3, d), NULL};
    write_mat(src, MAT_FT_MAT73, vars);
    cn_import_report rep;
    CHECK_OK(cn_mat_import(src, out, NULL, &rep));
    CHECK(rep.kind == CN_SCENE_LABELS && rep.max_id == 300 && rep.labelled == 8);
    CHECK(rep.benchmark == NULL);
    GDALDatasetH ds = open_ro(out);
    if (!ds)
        return;
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    CHECK(GDALGetRasterDataType(b) == GDT_UInt16);
    uint16_t px[12];
    CHECK(GDALRasterIO(b, GF_Read, 0, 0, 3, 4, px, 3, 4, GDT_UInt16, 0, 0) == CE_None);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            CHECK(px[r * 3 + c] == d[r + 4 * c]);
    char **names = category_names(ds);
    CHECK(names && CSLCount(names) == 301 && strcmp(names[300], "class 300") == 0);
    GDALClose(ds);
}

/* Each MATLAB class lands on the GDAL type that holds it exactly. */
static void test_types_are_kept(void)
{
    fixture_init("import_types");
    static const struct {
        enum matio_classes c;
        enum matio_types t;
        size_t size;
        GDALDataType want;
        const char *name;
    } cases[] = {
        {MAT_C_UINT8, MAT_T_UINT8, 1, GDT_Byte, "Byte"},
        {MAT_C_INT8, MAT_T_INT8, 1, GDT_Byte, "Int8"},
        {MAT_C_UINT16, MAT_T_UINT16, 2, GDT_UInt16, "UInt16"},
        {MAT_C_INT32, MAT_T_INT32, 4, GDT_Int32, "Int32"},
        {MAT_C_UINT32, MAT_T_UINT32, 4, GDT_UInt32, "UInt32"},
        {MAT_C_SINGLE, MAT_T_SINGLE, 4, GDT_Float32, "Float32"},
        {MAT_C_DOUBLE, MAT_T_DOUBLE, 8, GDT_Float64, "Float64"},
        {MAT_C_INT64, MAT_T_INT64, 8, GDT_Int64, "Int64"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *src = fixture_path("t.mat"), *out = fixture_path("t.tif");
        unlink(out);
        size_t dims[3] = {3, 4, 2};
        unsigned char data[3 * 4 * 2 * 8];
        for (size_t k = 0; k < sizeof data; k++)
            data[k] = (unsigned char)(k % 7 == 0 ? 0x41 : 0x3f); /* arbitrary, finite */
        matvar_t *vars[] = {Mat_VarCreate("x", cases[i].c, cases[i].t, 3, dims, data, 0), NULL};
        write_mat(src, MAT_FT_MAT5, vars);
        cn_import_report rep;
        CHECK_OK(cn_mat_import(src, out, NULL, &rep));
        CHECK(rep.gdal_type && strcmp(rep.gdal_type, cases[i].name) == 0);
        GDALDatasetH ds = open_ro(out);
        if (!ds)
            continue;
        GDALRasterBandH b = GDALGetRasterBand(ds, 2);
        CHECK(GDALGetRasterDataType(b) == cases[i].want);
        unsigned char got[3 * 4 * 8];
        CHECK(GDALRasterIO(b, GF_Read, 0, 0, 4, 3, got, 4, 3, cases[i].want, 0, 0) == CE_None);
        size_t s = cases[i].size;
        int bad = 0;
        for (size_t r = 0; r < 3; r++)
            for (size_t c = 0; c < 4; c++)
                bad += memcmp(got + (r * 4 + c) * s, data + (r + 3 * (c + 4 * 1)) * s, s) != 0;
        CHECK(bad == 0);
        if (cases[i].c == MAT_C_INT8) {
            const char *pt = GDALGetMetadataItem(b, "PIXELTYPE", "IMAGE_STRUCTURE");
            CHECK(pt && strcmp(pt, "SIGNEDBYTE") == 0);
        }
        GDALClose(ds);
    }
}

static void test_2d_array_of_fractions_is_a_one_band_image(void)
{
    fixture_init("import_2d_image");
    const char *src = fixture_path("dem.mat"), *out = fixture_path("dem.tif");
    double d[6] = {0.5, 1, 2, 3, 4, 5};
    matvar_t *vars[] = {array2d("dem", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, 3, d), NULL};
    write_mat(src, MAT_FT_MAT5, vars);
    cn_import_report rep;
    CHECK_OK(cn_mat_import(src, out, NULL, &rep));
    CHECK(rep.kind == CN_SCENE_IMAGE && rep.bands == 1 && strcmp(rep.gdal_type, "Float64") == 0);
    GDALDatasetH ds = open_ro(out);
    if (ds) {
        double px[6];
        CHECK(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, 3, 2, px, 3, 2, GDT_Float64, 0,
                           0) == CE_None);
        CHECK(px[0] == 0.5 && px[1] == 2 && px[3] == 1 && px[5] == 5);
        GDALClose(ds);
    }
}

/* --------------------------------------------------------------------- choosing the variable */

static void test_default_variable_is_the_largest_and_var_picks_another(void)
{
    fixture_init("import_pick");
    const char *src = fixture_path("two.mat"), *out = fixture_path("out.tif");
    uint8_t gt[6] = {1, 2, 0, 1, 2, 2};
    const char *label = "note";
    size_t cdims[2] = {1, 4};
    matvar_t *vars[] = {array2d("indian_pines_gt", MAT_C_UINT8, MAT_T_UINT8, 2, 3, gt),
                        int16_cube("indian_pines_corrected", 2, 3, 4),
                        Mat_VarCreate("title", MAT_C_CHAR, MAT_T_UINT8, 2, cdims, (void *)label, 0),
                        NULL};
    write_mat(src, MAT_FT_MAT5, vars);
    cn_import_report rep;
    CHECK_OK(cn_mat_import(src, out, NULL, &rep));
    CHECK(strcmp(rep.variable, "indian_pines_corrected") == 0 && rep.picked);
    CHECK(rep.importable == 2 && rep.kind == CN_SCENE_IMAGE && rep.bands == 4);
    unlink(out);
    cn_import_options o = {.variable = "indian_pines_gt"};
    CHECK_OK(cn_mat_import(src, out, &o, &rep));
    CHECK(!rep.picked && rep.kind == CN_SCENE_LABELS);
    CHECK(rep.benchmark && strcmp(rep.benchmark->key, "indian_pines") == 0);
    GDALDatasetH ds = open_ro(out);
    if (ds) {
        char **names = category_names(ds);
        CHECK(names && CSLCount(names) == 3 && strcmp(names[2], "Corn-notill") == 0);
        GDALClose(ds);
    }
}

static void test_benchmark_recognised_by_file_name(void)
{
    fixture_init("import_by_file");
    const char *src = fixture_path("PaviaU_gt.mat"), *out = fixture_path("out.tif");
    uint8_t gt[4] = {9, 0, 1, 5};
    matvar_t *vars[] = {array2d("groundtruth", MAT_C_UINT8, MAT_T_UINT8, 2, 2, gt), NULL};
    write_mat(src, MAT_FT_MAT5, vars);
    cn_import_report rep;
    CHECK_OK(cn_mat_import(src, out, NULL, &rep));
    CHECK(rep.benchmark && strcmp(rep.benchmark->key, "pavia_university") == 0);
    GDALDatasetH ds = open_ro(out);
    if (ds) {
        char **names = category_names(ds);
        CHECK(names && CSLCount(names) == 10 && strcmp(names[9], "Shadows") == 0 &&
              strcmp(names[5], "Painted metal sheets") == 0);
        GDALClose(ds);
    }
}

static void test_benchmark_names_resolve(void)
{
    CHECK(cn_benchmark_find("salinasA_gt") == cn_benchmark_find("salinas"));
    CHECK(cn_benchmark_find("/data/Salinas_corrected.mat") == cn_benchmark_find("salinas"));
    CHECK(strcmp(cn_benchmark_find("paviaU")->key, "pavia_university") == 0);
    CHECK(strcmp(cn_benchmark_find("pavia_gt")->key, "pavia_centre") == 0);
    CHECK(strcmp(cn_benchmark_find("Indian_pines_corrected.mat")->key, "indian_pines") == 0);
    CHECK(cn_benchmark_find("landsat") == NULL && cn_benchmark_find(NULL) == NULL);
    CHECK(cn_benchmark_find("salinas")->count == 16 && cn_benchmark_find("pavia")->count == 9);
    CHECK(strcmp(cn_benchmark_find("indian_pines")->classes[15].name, "Stone-Steel-Towers") == 0);
    /* colours are distinct within each benchmark */
    for (size_t i = 0; cn_benchmark_at(i); i++) {
        const cn_benchmark *bm = cn_benchmark_at(i);
        for (size_t a = 0; a < bm->count; a++) {
            CHECK(bm->classes[a].id == (int)a + 1);
            for (size_t b = a + 1; b < bm->count; b++)
                CHECK(memcmp(bm->classes[a].rgb, bm->classes[b].rgb, 3) != 0);
        }
    }
}

static void test_list_describes_variables(void)
{
    fixture_init("import_list");
    const char *src = fixture_path("list.mat");
    const char *label = "abc";
    size_t cdims[2] = {1, 3};
    matvar_t *vars[] = {int16_cube("cube", 2, 3, 4),
                        Mat_VarCreate("title", MAT_C_CHAR, MAT_T_UINT8, 2, cdims, (void *)label, 0),
                        NULL};
    write_mat(src, MAT_FT_MAT5, vars);
    cn_mat_list list;
    CHECK_OK(cn_mat_list_read(src, &list));
    CHECK(list.version == 5 && list.count == 2);
    if (list.count == 2) {
        CHECK(strcmp(list.vars[0].name, "cube") == 0);
        CHECK(strcmp(list.vars[0].mat_class, "int16") == 0);
        CHECK(list.vars[0].rank == 3 && list.vars[0].dims[2] == 4);
        CHECK(cn_mat_variable_importable(&list.vars[0]));
        CHECK(strcmp(list.vars[1].mat_class, "char") == 0);
        CHECK(!cn_mat_variable_importable(&list.vars[1]));
    }
    cn_mat_list_free(&list);
}

/* --------------------------------------------------------------------- refusals */

/* The call fails with status, its message is one line containing `part`, and the scratch folder
 * holds only the `keep` files it held before. */
static void expect_refusal(cn_status got, cn_status want, const char *part, int files_before)
{
    CHECK(got == want);
    const char *msg = cn_last_error();
    CHECK(strchr(msg, '\n') == NULL);
    if (part && !strstr(msg, part)) {
        fprintf(stderr, "  message was: %s\n", msg);
        CHECK(strstr(msg, part) != NULL);
    }
    CHECK(fixture_count_files() == files_before);
}

static void copy_prefix(const char *from, const char *to, long bytes)
{
    FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
    CHECK(f && g);
    char buf[65536];
    long left = bytes;
    while (f && g && left > 0) {
        size_t n = fread(buf, 1, left < (long)sizeof buf ? (size_t)left : sizeof buf, f);
        if (n == 0)
            break;
        fwrite(buf, 1, n, g);
        left -= (long)n;
    }
    if (f)
        fclose(f);
    if (g)
        fclose(g);
}

static void test_truncated_salinasA_is_refused_cleanly(void)
{
    if (!hsi())
        return;
    fixture_init("import_truncated");
    const char *full = hsi_file("SalinasA_corrected.mat");
    struct stat sb;
    stat(full, &sb);
    const long cuts[] = {0, 10, 127, 128, 130, 136, 200, 1000, 100000, 770000, 1500000,
                         (long)sb.st_size - 8, (long)sb.st_size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        const char *cut = fixture_path("cut.mat"), *out = fixture_path("cut.tif");
        copy_prefix(full, cut, cuts[i]);
        cn_status st = cn_mat_import(cut, out, NULL, NULL);
        if (st != CN_EFORMAT)
            fprintf(stderr, "  cut at %ld: %s\n", cuts[i], cn_last_error());
        expect_refusal(st, CN_EFORMAT, cuts[i] < 128 ? "not a MAT file" : cuts[i] == 128 ?
                       "no variables (an empty or truncated MAT file)" : "truncated", 1);
        CHECK(strstr(cn_last_error(), cut) == cn_last_error()); /* names the file first */
    }
}

static void test_truncated_v73_is_refused_cleanly(void)
{
    fixture_init("import_truncated73");
    const char *src = fixture_path("cube73.mat");
    matvar_t *vars[] = {int16_cube("cube", 40, 30, 20), NULL};
    write_mat(src, MAT_FT_MAT73, vars);
    struct stat sb;
    stat(src, &sb);
    const long cuts[] = {200, 512, 520, 1000, 2048, (long)sb.st_size / 2, (long)sb.st_size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        const char *cut = fixture_path("cut.mat"), *out = fixture_path("cut.tif");
        copy_prefix(src, cut, cuts[i]);
        cn_status st = cn_mat_import(cut, out, NULL, NULL);
        expect_refusal(st, CN_EFORMAT, NULL, 2);
    }
}

/* Random byte changes anywhere in a small compressed and an uncompressed file: the importer
 * succeeds or refuses, and never crashes nor reads outside its buffers (run under ASan). */
static void test_mutated_files_never_crash(void)
{
    fixture_init("import_mutated");
    char src[1024]; /* fixture_path's buffers rotate: keep a copy */
    snprintf(src, sizeof src, "%s", fixture_path("base.mat"));
    for (int compressed = 0; compressed < 2; compressed++) {
        mat_t *m = Mat_CreateVer(src, NULL, MAT_FT_MAT5);
        matvar_t *v = int16_cube("cube", 6, 5, 4);
        Mat_VarWrite(m, v, compressed ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE);
        Mat_VarFree(v);
        Mat_Close(m);
        FILE *f = fopen(src, "rb");
        unsigned char base[4096];
        size_t n = fread(base, 1, sizeof base, f);
        fclose(f);
        cn_rng rng;
        cn_rng_seed(&rng, 7 + (uint64_t)compressed);
        int refused = 0;
        for (int it = 0; it < 400; it++) {
            unsigned char mut[4096];
            memcpy(mut, base, n);
            int k = 1 + (int)cn_rng_below(&rng, 4);
            for (int j = 0; j < k; j++)
                mut[128 + cn_rng_below(&rng, n - 128)] = (unsigned char)cn_rng_next(&rng);
            const char *p = fixture_path("mut.mat"), *out = fixture_path("mut.tif");
            FILE *g = fopen(p, "wb");
            fwrite(mut, 1, n, g);
            fclose(g);
            cn_status st = cn_mat_import(p, out, NULL, NULL);
            refused += st != CN_OK;
            if (st && (strchr(cn_last_error(), '\n') || fixture_exists(out) ||
                       fixture_count_files() != 2)) {
                fprintf(stderr, "  mutation %d: %s\n", it, cn_last_error());
                CHECK(!"a refusal is one line and leaves no file");
            }
            unlink(out);
            unlink(p);
        }
        CHECK(refused > 0);
    }
}

static void test_not_a_mat_file_is_refused(void)
{
    fixture_init("import_notmat");
    const char *p = fixture_path("notes.mat");
    fixture_write_text(p, "this is not a MATLAB file, just some text that is long enough to "
                          "fill a header of one hundred and twenty-eight bytes, and a bit more.\n");
    expect_refusal(cn_mat_import(p, fixture_path("o.tif"), NULL, NULL), CN_EFORMAT,
                   "not a MAT file", 1);
    expect_refusal(cn_mat_import(fixture_path("missing.mat"), fixture_path("o.tif"), NULL, NULL),
                   CN_EIO, "missing.mat", 1);
}

static void test_unknown_variable_lists_the_variables(void)
{
    fixture_init("import_unknown_var");
    const char *src = fixture_path("v.mat");
    matvar_t *vars[] = {int16_cube("cube", 2, 3, 4), NULL};
    write_mat(src, MAT_FT_MAT5, vars);
    cn_import_options o = {.variable = "salinas"};
    expect_refusal(cn_mat_import(src, fixture_path("o.tif"), &o, NULL), CN_EINVAL,
                   "no variable 'salinas' (variables: cube (int16 2 x 3 x 4))", 1);
}

static void test_non_numeric_and_1d_variables_are_refused(void)
{
    fixture_init("import_bad_vars");
    const char *src = fixture_path("v.mat");
    const char *text = "hello";
    size_t cdims[2] = {1, 5}, sdims[2] = {1, 1};
    double row[4] = {1, 2, 3, 4};
    const char *fields[] = {"a"};
    matvar_t *st = Mat_VarCreateStruct("meta", 2, sdims, fields, 1);
    matvar_t *vars[] = {Mat_VarCreate("title", MAT_C_CHAR, MAT_T_UINT8, 2, cdims, (void *)text, 0),
                        array2d("row", MAT_C_DOUBLE, MAT_T_DOUBLE, 1, 4, row), st, NULL};
    write_mat(src, MAT_FT_MAT5, vars);
    cn_import_options o = {.variable = "title"};
    expect_refusal(cn_mat_import(src, fixture_path("o.tif"), &o, NULL), CN_EINVAL,
                   "variable 'title' is a char, not a numeric array", 1);
    o.variable = "meta";
    expect_refusal(cn_mat_import(src, fixture_path("o.tif"), &o, NULL), CN_EINVAL,
                   "variable 'meta' is a struct", 1);
    o.variable = "row";
    expect_refusal(cn_mat_import(src, fixture_path("o.tif"), &o, NULL), CN_EINVAL,
                   "variable 'row' is 1-D (1 x 4)", 1);
    expect_refusal(cn_mat_import(src, fixture_path("o.tif"), NULL, NULL), CN_EINVAL,
                   "no numeric array of 2 or 3 dimensions", 1);
}

/* A hand-made v5 file: one uncompressed int16 matrix claiming the given dimensions but holding
 * only 8 bytes of data. */
static void write_claiming(const char *path, const uint32_t *dims, int rank)
{
    unsigned char b[512] = {0};
    memset(b, ' ', 116);
    memcpy(b, "MATLAB 5.0 MAT-file, hand-made", 30);
    b[124] = 0x00, b[125] = 0x01, b[126] = 'I', b[127] = 'M';
    uint32_t w[64];
    int n = 0;
    w[n++] = 14, w[n++] = 0;                               /* miMATRIX, size below */
    w[n++] = 6, w[n++] = 8, w[n++] = MAT_C_INT16, w[n++] = 0; /* array flags */
    w[n++] = 5, w[n++] = (uint32_t)(4 * rank);             /* dims */
    for (int d = 0; d < rank; d++)
        w[n++] = dims[d];
    if (rank % 2)
        w[n++] = 0;
    w[n++] = 1 << 16 | 1, w[n++] = 'x';                     /* name "x", small format */
    w[n++] = 3, w[n++] = 8, w[n++] = 0x00010001, w[n++] = 0x00010001; /* miINT16, 8 bytes */
    w[1] = (uint32_t)(4 * (n - 2));
    memcpy(b + 128, w, 4 * (size_t)n);
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, 128 + 4 * (size_t)n, f);
    fclose(f);
}

static void test_absurd_dimensions_are_refused(void)
{
    fixture_init("import_absurd");
    const char *p = fixture_path("absurd.mat");
    const uint32_t huge[3] = {4000000000u, 4000000000u, 4000000000u};
    write_claiming(p, huge, 3);
    expect_refusal(cn_mat_import(p, fixture_path("o.tif"), NULL, NULL), CN_EOVERFLOW, "overflow",
                   1);
    const uint32_t big[3] = {65536, 65536, 200};
    write_claiming(p, big, 3);
    expect_refusal(cn_mat_import(p, fixture_path("o.tif"), NULL, NULL), CN_EFORMAT,
                   "fewer values than its dimensions", 1);
    const uint32_t wide[3] = {2, 3000000000u, 1};
    write_claiming(p, wide, 3);
    cn_status st = cn_mat_import(p, fixture_path("o.tif"), NULL, NULL);
    CHECK(st == CN_EFORMAT || st == CN_EOVERFLOW);
    CHECK(fixture_count_files() == 1);
    const uint32_t fine[2] = {2, 2};
    write_claiming(p, fine, 2); /* the same file with honest dimensions is read */
    CHECK_OK(cn_mat_import(p, fixture_path("o.tif"), NULL, NULL));
}

static void test_bad_outputs_are_refused_before_reading(void)
{
    fixture_init("import_outputs");
    const char *src = fixture_path("v.mat");
    matvar_t *vars[] = {int16_cube("cube", 2, 3, 4), NULL};
    write_mat(src, MAT_FT_MAT5, vars);
    expect_refusal(cn_mat_import(src, src, NULL, NULL), CN_EINVAL, "also an input", 1);
    expect_refusal(cn_mat_import(src, fixture_path("no/such/folder/o.tif"), NULL, NULL), CN_EIO,
                   "folder", 1);
    if (geteuid() != 0) { /* root writes anywhere */
        mkdir(fixture_path("ro"), 0555);
        expect_refusal(cn_mat_import(src, fixture_path("ro/o.tif"), NULL, NULL), CN_EIO,
                       "not writable", 2);
    }
}

static int cancel_at_half(double f, const char *msg, void *data)
{
    (void)msg;
    (void)data;
    return f < 0.5;
}

static void test_cancelled_import_leaves_nothing(void)
{
    fixture_init("import_cancel");
    const char *src = fixture_path("v.mat");
    matvar_t *vars[] = {int16_cube("cube", 600, 10, 3), NULL};
    write_mat(src, MAT_FT_MAT5, vars);
    cn_import_options o = {.progress = cancel_at_half};
    expect_refusal(cn_mat_import(src, fixture_path("o.tif"), &o, NULL), CN_ECANCELLED, "cancel",
                   1);
}

int main(void)
{
    RUN(test_salinasA_cube_keeps_shape_type_and_no_georeference);
    RUN(test_salinasA_cube_equals_matio_in_column_major_order);
    RUN(test_salinasA_ground_truth_becomes_named_label_map);
    RUN(test_v73_cube_round_trips);
    RUN(test_v73_labels_round_trip_as_uint16_past_255);
    RUN(test_types_are_kept);
    RUN(test_2d_array_of_fractions_is_a_one_band_image);
    RUN(test_default_variable_is_the_largest_and_var_picks_another);
    RUN(test_benchmark_recognised_by_file_name);
    RUN(test_benchmark_names_resolve);
    RUN(test_list_describes_variables);
    RUN(test_truncated_salinasA_is_refused_cleanly);
    RUN(test_truncated_v73_is_refused_cleanly);
    RUN(test_mutated_files_never_crash);
    RUN(test_not_a_mat_file_is_refused);
    RUN(test_unknown_variable_lists_the_variables);
    RUN(test_non_numeric_and_1d_variables_are_refused);
    RUN(test_absurd_dimensions_are_refused);
    RUN(test_bad_outputs_are_refused_before_reading);
    RUN(test_cancelled_import_leaves_nothing);
    return CHECK_EXIT();
}
