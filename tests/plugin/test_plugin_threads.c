/*
 * test_plugin_threads.c — concurrent readers of VRTs that run the plugin's pixel functions get
 * what one reader gets.
 *
 * GDAL calls a pixel function from whichever thread reads the VRT; programs such as QGIS read
 * one file from several threads, each through its own dataset handle. This test makes a small
 * Float32 image (with a nodata block), per-pixel models (random weights: agreement, not
 * accuracy, is tested; one with batch normalisation and dropout, whose evaluation mode the
 * plugin's private network copies must keep) and VRTs over them — "cropnet" and "cropnet_lua".
 * It reads each VRT once on the main thread, compares a model's map with the core's own
 * prediction, then reads the VRT again from THREADS threads at once, each in strips starting at
 * a different line, with a small GDAL block cache so every strip runs the pixel function again.
 * The plugin is loaded by GDALAllRegister from GDAL_DRIVER_PATH (set by ctest).
 */
#include "check.h"
#include "cropnet.h"

#include <cpl_conv.h>
#include <gdal.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 300
#define H 211
#define BANDS 4
#define THREADS 4
#define STRIP 17

static char dir[512], image[600], script[600];

static void path_in(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static void make_image(void)
{
    GDALDriverH gtiff = GDALGetDriverByName("GTiff");
    GDALDatasetH ds = GDALCreate(gtiff, image, W, H, BANDS, GDT_Float32, NULL);
    CHECK(ds != NULL);
    float *row = malloc(W * sizeof *row);
    cn_rng rng;
    cn_rng_seed(&rng, 7);
    for (int b = 1; b <= BANDS; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b);
        GDALSetRasterNoDataValue(band, -1);
        for (int y = 0; y < H; y++) {
            for (int x = 0; x < W; x++)
                row[x] = (x > 40 && x < 60 && y > 30 && y < 50) ? -1.0f
                         : (float)(100 * cn_rng_uniform(&rng) + 10 * b);
            CHECK(GDALRasterIO(band, GF_Write, 0, y, W, 1, row, W, 1, GDT_Float32, 0, 0) ==
                  CE_None);
        }
    }
    free(row);
    GDALClose(ds);
}

/* A model for the image's bands with random weights; with norm_layers, batch normalisation
 * (non-trivial running statistics) and dropout between the linear layers. */
static void make_model(const char *file, bool norm_layers)
{
    cn_layer *net, *layer;
    cn_rng rng;
    cn_rng_seed(&rng, 3);
    CHECK_OK(cn_sequential_new(&net));
    CHECK_OK(cn_linear_new(BANDS, 16, &layer));
    CHECK_OK(cn_sequential_add(net, layer));
    cn_layer_release(layer);
    if (norm_layers) {
        CHECK_OK(cn_batchnorm_new(16, 1e-5f, 0.1f, &layer));
        for (int i = 0; i < 16; i++) {
            cn_tensor_data(cn_batchnorm_running_mean(layer))[i] = 0.1f * (float)(i - 8);
            cn_tensor_data(cn_batchnorm_running_var(layer))[i] = 0.5f + 0.1f * (float)i;
        }
        CHECK_OK(cn_sequential_add(net, layer));
        cn_layer_release(layer);
    }
    CHECK_OK(cn_activation_new(CN_LAYER_RELU, 0, &layer));
    CHECK_OK(cn_sequential_add(net, layer));
    cn_layer_release(layer);
    if (norm_layers) {
        CHECK_OK(cn_dropout_new(0.5f, 1, &layer));
        CHECK_OK(cn_sequential_add(net, layer));
        cn_layer_release(layer);
    }
    CHECK_OK(cn_linear_new(16, 5, &layer));
    CHECK_OK(cn_sequential_add(net, layer));
    cn_layer_release(layer);
    CHECK_OK(cn_layer_init(net, CN_INIT_XAVIER_UNIFORM, 0, &rng));
    cn_model *m;
    CHECK_OK(cn_model_new(net, &m));
    CHECK_OK(cn_model_set_meta(m, "bands", "4"));
    CHECK_OK(cn_model_set_meta(m, "input", "pixel"));
    CHECK_OK(cn_model_set_meta(m, "classes", "[{\"id\": 1}, {\"id\": 2}, {\"id\": 3}, "
                                             "{\"id\": 7}, {\"id\": 9}]"));
    cn_tensor *mean, *std;
    CHECK_OK(cn_tensor_new2(1, BANDS, &mean));
    CHECK_OK(cn_tensor_new2(1, BANDS, &std));
    for (int b = 0; b < BANDS; b++) {
        cn_tensor_data(mean)[b] = 50.0f + 10 * (b + 1);
        cn_tensor_data(std)[b] = 29.0f;
    }
    CHECK_OK(cn_model_set_tensor(m, "norm.mean", mean));
    CHECK_OK(cn_model_set_tensor(m, "norm.std", std));
    CHECK_OK(cn_model_save(m, file));
    cn_tensor_release(mean);
    cn_tensor_release(std);
    cn_model_free(m);
    cn_layer_release(net);
}

/* The map the core itself makes of the image with the model file: class ids, 0 where invalid. */
static float *core_map(const char *file)
{
    size_t n = (size_t)W * H;
    float *pixels = malloc(n * BANDS * sizeof *pixels), *map = calloc(n, sizeof *map);
    uint8_t *valid = malloc(n);
    int32_t *labels = malloc(n * sizeof *labels);
    cn_raster *r = NULL;
    cn_model *m = NULL;
    cn_pixel_model *pm = NULL;
    CHECK_OK(cn_raster_open(image, &r));
    CHECK_OK(cn_raster_read(r, 0, 0, W, H, pixels, valid));
    CHECK_OK(cn_model_load(file, &m));
    CHECK_OK(cn_pixel_model_open(m, &pm));
    CHECK_OK(cn_pixel_model_predict(pm, pixels, (int64_t)n, labels, NULL, NULL));
    for (size_t i = 0; i < n; i++)
        map[i] = valid[i] ? (float)labels[i] : 0.0f;
    cn_pixel_model_close(pm);
    cn_model_free(m);
    cn_raster_close(r);
    free(pixels);
    free(valid);
    free(labels);
    return map;
}

/* A VRT with one derived band of type, running fn with args over the image's bands. */
static void make_vrt(const char *file, const char *type, const char *fn, const char *args,
                     int nsources)
{
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    fprintf(f, "<VRTDataset rasterXSize=\"%d\" rasterYSize=\"%d\">\n"
               "  <VRTRasterBand dataType=\"%s\" band=\"1\" subClass=\"VRTDerivedRasterBand\">\n"
               "    <PixelFunctionType>%s</PixelFunctionType>\n"
               "    <PixelFunctionArguments %s/>\n"
               "    <SourceTransferType>Float32</SourceTransferType>\n",
            W, H, type, fn, args);
    for (int b = 1; b <= nsources; b++)
        fprintf(f, "    <SimpleSource><SourceFilename relativeToVRT=\"0\">%s</SourceFilename>"
                   "<SourceBand>%d</SourceBand></SimpleSource>\n", image, b);
    fprintf(f, "  </VRTRasterBand>\n</VRTDataset>\n");
    fclose(f);
}

/* Reads the whole band in strips of STRIP lines, beginning with the strip at index first and
 * wrapping around, so concurrent readers ask for different lines at the same time. */
static int read_all(const char *file, int first, float *out)
{
    GDALDatasetH ds = GDALOpen(file, GA_ReadOnly);
    if (!ds)
        return 0;
    GDALRasterBandH band = GDALGetRasterBand(ds, 1);
    int nstrips = (H + STRIP - 1) / STRIP, ok = 1;
    for (int i = 0; ok && i < nstrips; i++) {
        int y = (first + i) % nstrips * STRIP, n = H - y < STRIP ? H - y : STRIP;
        ok = GDALRasterIO(band, GF_Read, 0, y, W, n, out + (size_t)y * W, W, n, GDT_Float32, 0,
                          0) == CE_None;
    }
    GDALClose(ds);
    return ok;
}

typedef struct reader {
    const char *file;
    int first;
    float *out;
    int ok;
} reader;

static void *read_thread(void *arg)
{
    reader *r = arg;
    r->ok = read_all(r->file, r->first, r->out);
    return NULL;
}

/* Reads file on THREADS threads at once; each must equal the single-threaded reference, and
 * that the expected map when one is given. */
static void check_concurrent(const char *file, const float *expected)
{
    size_t n = (size_t)W * H;
    float *ref = calloc(n, sizeof *ref);
    CHECK(read_all(file, 0, ref));
    if (expected)
        CHECK(memcmp(ref, expected, n * sizeof *ref) == 0);
    reader readers[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        readers[t] = (reader){file, t * 5, calloc(n, sizeof(float)), 0};
        CHECK(pthread_create(&threads[t], NULL, read_thread, &readers[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        CHECK(readers[t].ok);
        CHECK(memcmp(readers[t].out, ref, n * sizeof *ref) == 0);
        free(readers[t].out);
    }
    /* the reference is not trivial: the nodata block at 0, and several distinct values */
    int zeros = 0, distinct = 0;
    for (size_t i = 0; i < n; i++) {
        zeros += ref[i] == 0;
        distinct += i > 0 && ref[i] != ref[i - 1];
    }
    free(ref);
    CHECK(zeros > 0);
    CHECK(distinct > 10);
}

static void check_model(const char *name, bool norm_layers)
{
    char file[700], vrt[700], args[800];
    snprintf(file, sizeof file, "%s/%s.cropnet", dir, name);
    snprintf(vrt, sizeof vrt, "%s/%s.vrt", dir, name);
    make_model(file, norm_layers);
    snprintf(args, sizeof args, "model=\"%s\" output=\"label\" nodata=\"-1\"", file);
    make_vrt(vrt, "Byte", "cropnet", args, BANDS);
    float *expected = core_map(file);
    check_concurrent(vrt, expected);
    free(expected);
}

static void test_concurrent_readers_of_a_model_vrt_agree(void)
{
    check_model("threads_mlp", false);
}

static void test_concurrent_readers_agree_with_batchnorm_and_dropout(void)
{
    check_model("threads_bn", true);
}

static void test_concurrent_readers_of_a_lua_vrt_agree(void)
{
    char vrt[700], args[800];
    path_in(vrt, sizeof vrt, "threads_lua.vrt");
    FILE *f = fopen(script, "w");
    CHECK(f != NULL);
    fputs("local cn = require \"cropnet\"\n"
          "function f(a, b, c, d) return (a * 3 + b - c) % 7 + d / 100 end\n", f);
    fclose(f);
    snprintf(args, sizeof args, "script=\"%s\" function=\"f\" nodata=\"-1\"", script);
    make_vrt(vrt, "Float32", "cropnet_lua", args, BANDS);
    check_concurrent(vrt, NULL);
}

int main(void)
{
    const char *tmp = getenv("CROPNET_TMP");
    snprintf(dir, sizeof dir, "%s", tmp ? tmp : "/tmp");
    path_in(image, sizeof image, "threads_image.tif");
    path_in(script, sizeof script, "threads.lua");
    GDALAllRegister();
    CPLSetConfigOption("GDAL_CACHEMAX", "1"); /* 1 MB: strips are computed again, not cached */
    make_image();
    RUN(test_concurrent_readers_of_a_model_vrt_agree);
    RUN(test_concurrent_readers_agree_with_batchnorm_and_dropout);
    RUN(test_concurrent_readers_of_a_lua_vrt_agree);
    return CHECK_EXIT();
}
