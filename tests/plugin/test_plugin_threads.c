/*
 * test_plugin_threads.c — concurrent readers of VRTs that run the plugin's pixel functions get
 * what one reader gets.
 *
 * GDAL calls a pixel function from whichever thread reads the VRT; programs such as QGIS read
 * one file from several threads, each through its own dataset handle. This test makes a small
 * Float32 image (with a nodata block), a per-pixel model (random weights: agreement, not
 * accuracy, is tested) and two VRTs over them — "cropnet" and "cropnet_lua" — then reads each
 * VRT once on the main thread and again from THREADS threads at once, each in strips starting at
 * a different line, with a small GDAL block cache so every strip runs the pixel function again.
 * The plugin is loaded by GDALAllRegister from GDAL_DRIVER_PATH (set by ctest).
 */
#include "check.h"
#include "cropnet.h"

#include <cpl_conv.h>
#include <gdal.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 300
#define H 211
#define BANDS 4
#define THREADS 4
#define STRIP 17

static char dir[512], image[600], model[600], script[600];

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

static void make_model(void)
{
    cn_layer *net, *l1, *act, *l2;
    cn_rng rng;
    cn_rng_seed(&rng, 3);
    CHECK_OK(cn_sequential_new(&net));
    CHECK_OK(cn_linear_new(BANDS, 16, &l1));
    CHECK_OK(cn_activation_new(CN_LAYER_RELU, 0, &act));
    CHECK_OK(cn_linear_new(16, 5, &l2));
    CHECK_OK(cn_sequential_add(net, l1));
    CHECK_OK(cn_sequential_add(net, act));
    CHECK_OK(cn_sequential_add(net, l2));
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
    CHECK_OK(cn_model_save(m, model));
    cn_tensor_release(mean);
    cn_tensor_release(std);
    cn_model_free(m);
    cn_layer_release(l1);
    cn_layer_release(act);
    cn_layer_release(l2);
    cn_layer_release(net);
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

/* Reads file on THREADS threads at once; each must equal the single-threaded reference. */
static void check_concurrent(const char *file)
{
    size_t n = (size_t)W * H;
    float *ref = calloc(n, sizeof *ref);
    CHECK(read_all(file, 0, ref));
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
    /* the reference is not trivial: several classes, and the nodata block at 0 */
    int seen[10] = {0};
    for (size_t i = 0; i < n; i++)
        if (ref[i] >= 0 && ref[i] < 10)
            seen[(int)ref[i]] = 1;
    free(ref);
    CHECK(seen[0]);
}

static void test_concurrent_readers_of_a_model_vrt_agree(void)
{
    char vrt[700], args[800];
    path_in(vrt, sizeof vrt, "threads_model.vrt");
    snprintf(args, sizeof args, "model=\"%s\" output=\"label\" nodata=\"-1\"", model);
    make_vrt(vrt, "Byte", "cropnet", args, BANDS);
    check_concurrent(vrt);
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
    check_concurrent(vrt);
}

int main(void)
{
    const char *tmp = getenv("CROPNET_TMP");
    snprintf(dir, sizeof dir, "%s", tmp ? tmp : "/tmp");
    path_in(image, sizeof image, "threads_image.tif");
    path_in(model, sizeof model, "threads.cropnet");
    path_in(script, sizeof script, "threads.lua");
    GDALAllRegister();
    CPLSetConfigOption("GDAL_CACHEMAX", "1"); /* 1 MB: strips are computed again, not cached */
    make_image();
    make_model();
    RUN(test_concurrent_readers_of_a_model_vrt_agree);
    RUN(test_concurrent_readers_of_a_lua_vrt_agree);
    return CHECK_EXIT();
}
