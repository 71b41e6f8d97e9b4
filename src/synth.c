/*
 * synth.c — cn_synth_write: the synthetic field scene written as an image and its label map.
 *
 * The scene is produced tile by tile (256 x 256, the GeoTIFF's own tiles) and never held whole:
 * in rounds of up to `threads` tiles, each rendered by its own worker into its own buffer. While
 * the workers render one round, the calling thread hands the previous one to GDAL in order (a
 * GDAL dataset serves one thread) and has it compressed and written out, so GDAL's block cache
 * holds one round of the image at most. Memory is 2 x threads x 256 x 256 x bands samples plus
 * that round, whatever the scene's size. DEFLATE runs at level 1: on noisy reflectances it
 * compresses as well as level 6 (the noise is what costs the bits) in far less time.
 *
 * Both files go through temporary names; the label map is committed first and removed again
 * should the image then fail, so the pair appears together or not at all.
 */
#include "scene_impl.h"
#include "synth_impl.h"

#include <cpl_conv.h>
#include <ogr_srs_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cn_synth_defaults(cn_synth_options *o)
{
    memset(o, 0, sizeof *o);
    o->width = 256;
    o->height = 256;
    o->bands = 32;
    o->classes = 6;
    o->seed = 1;
}

void cn_synth_geotransform(double gt[6])
{
    /* the north-west corner of a patch of the Salinas Valley, UTM 10N; AVIRIS at 3.7 m */
    const double g[6] = {620000.0, 3.7, 0.0, 4062000.0, 0.0, -3.7};
    memcpy(gt, g, sizeof g);
}

static cn_status check_options(const cn_synth_options *o)
{
    if (o->width < 32 || o->height < 32 || o->width > CN_SYNTH_MAX_SIDE ||
        o->height > CN_SYNTH_MAX_SIDE)
        return cn_set_error(CN_EINVAL, "synth: %d x %d pixels; width and height must be in "
                            "32..%d", o->width, o->height, CN_SYNTH_MAX_SIDE);
    if (o->bands < 3 || o->bands > CN_SYNTH_MAX_BANDS)
        return cn_set_error(CN_EINVAL, "synth: %d bands; must be in 3..%d", o->bands,
                            CN_SYNTH_MAX_BANDS);
    if (o->classes < 2 || o->classes > CN_SYNTH_MAX_CLASSES)
        return cn_set_error(CN_EINVAL, "synth: %d classes; must be in 2..%d", o->classes,
                            CN_SYNTH_MAX_CLASSES);
    if (o->threads < 0)
        return cn_set_error(CN_EINVAL, "synth: %d threads", o->threads);
    return CN_OK;
}

typedef struct tile_job {
    const synth_layout *layout;
    const synth_spectra *spectra;
    int x, y, w, h;
    int16_t *pixels;  /* SYNTH_TILE^2 x bands */
    int32_t *labels;  /* SYNTH_TILE^2 */
} tile_job;

static void *render_tile(void *arg)
{
    tile_job *j = arg;
    synth_render(j->layout, j->spectra, j->x, j->y, j->w, j->h, j->pixels, j->labels);
    return NULL;
}

/* A batch (a round): up to `threads` tiles rendered by their own threads. */
typedef struct batch {
    tile_job *jobs;
    int n;              /* tiles in this round */
    pthread_t tid[64];
    bool started[64];
} batch;

static void round_start(batch *r)
{
    for (int i = 0; i < r->n; i++)
        r->started[i] = pthread_create(&r->tid[i], NULL, render_tile, &r->jobs[i]) == 0;
}

static void round_finish(batch *r)
{
    for (int i = 0; i < r->n; i++) {
        if (r->started[i])
            pthread_join(r->tid[i], NULL);
        else
            render_tile(&r->jobs[i]); /* no thread to be had: render it here */
        r->started[i] = false;
    }
}

/* Writes a rendered round in order, then has GDAL compress and write out its blocks, so the
 * block cache never holds more than a round. */
static cn_status round_write(batch *r, scene_tiff *img, cn_labelmap *lm, int bands)
{
    for (int i = 0; i < r->n; i++) {
        tile_job *j = &r->jobs[i];
        GSpacing px = (GSpacing)bands * 2;
        CPLErrorReset();
        if (GDALDatasetRasterIOEx(img->ds, GF_Write, j->x, j->y, j->w, j->h, j->pixels, j->w,
                                  j->h, GDT_Int16, bands, NULL, px, px * j->w, 2, NULL) != CE_None)
            return cn_gdal_fail(CN_EIO, img->out.path, "cannot write");
        cn_status st = cn_labelmap_write(lm, j->x, j->y, j->w, j->h, j->labels);
        if (st)
            return st;
    }
    CPLErrorReset();
    GDALFlushCache(img->ds);
    if (CPLGetLastErrorType() >= CE_Failure)
        return cn_gdal_fail(CN_EIO, img->out.path, "cannot write");
    return CN_OK;
}

/* Assigns the next tiles (from *next, of total, tiles_x per row) to r. */
static void round_plan(batch *r, int threads, int64_t *next, int64_t total, int tiles_x,
                       const cn_synth_options *o)
{
    r->n = 0;
    for (; r->n < threads && *next < total; r->n++, (*next)++) {
        tile_job *j = &r->jobs[r->n];
        j->x = (int)(*next % tiles_x) * SYNTH_TILE;
        j->y = (int)(*next / tiles_x) * SYNTH_TILE;
        j->w = o->width - j->x < SYNTH_TILE ? o->width - j->x : SYNTH_TILE;
        j->h = o->height - j->y < SYNTH_TILE ? o->height - j->y : SYNTH_TILE;
    }
}

static cn_status set_nodata(scene_tiff *img, int bands)
{
    CPLErrorReset();
    for (int b = 1; b <= bands; b++)
        if (GDALSetRasterNoDataValue(GDALGetRasterBand(img->ds, b), CN_SYNTH_NODATA) != CE_None)
            return cn_gdal_fail(CN_EIO, img->out.path, "cannot set the nodata value");
    return CN_OK;
}

/* Creates both outputs: the image (Int16, nodata on every band) and the labelled classes. */
static cn_status create_outputs(const char *image, const char *labels, const cn_synth_options *o,
                                scene_tiff *img, cn_labelmap **lm)
{
    double gt[6];
    cn_synth_geotransform(gt);
    char *wkt = NULL;
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    if (!srs || OSRImportFromEPSG(srs, CN_SYNTH_EPSG) != OGRERR_NONE ||
        OSRExportToWkt(srs, &wkt) != OGRERR_NONE) {
        OSRDestroySpatialReference(srs);
        CPLFree(wkt);
        return cn_gdal_fail(CN_EIO, image, "cannot make the EPSG:32610 reference");
    }
    OSRDestroySpatialReference(srs);
    const char *image_inputs[] = {labels, NULL}, *label_inputs[] = {image, NULL};
    const char *fast[] = {"ZLEVEL=1", NULL};
    cn_status st = scene_tiff_create(image, image_inputs, o->width, o->height, o->bands,
                                     GDT_Int16, fast, gt, wkt, img);
    if (!st)
        st = set_nodata(img, o->bands);
    cn_class_info *classes = st ? NULL : calloc((size_t)o->classes, sizeof *classes);
    if (!st && !classes)
        st = cn_set_error(CN_ENOMEM, "%s: out of memory", labels);
    for (int k = 0; !st && k < o->classes; k++) {
        classes[k].id = k + 1;
        snprintf(classes[k].name, sizeof classes[k].name, "%s", cn_synth_class_name(k + 1));
        cn_synth_class_rgb(k + 1, classes[k].rgb);
    }
    cn_georef geo = {gt, wkt};
    if (!st)
        st = cn_labelmap_create(labels, label_inputs, o->width, o->height, geo, o->classes,
                                classes, (size_t)o->classes, NULL, lm);
    if (st)
        scene_tiff_abort(img);
    free(classes);
    CPLFree(wkt);
    return st;
}

/* True when a and b would name the same file: the same existing file, or the same name in the
 * same folder however the folder is spelt ("s.tif" and "./s.tif"). */
static bool same_target(const char *a, const char *b)
{
    if (cn_same_file(a, b))
        return true;
    const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
    if (strcmp(sa ? sa + 1 : a, sb ? sb + 1 : b) != 0)
        return false;
    char da[4096], db[4096];
    snprintf(da, sizeof da, "%.*s", sa ? (int)(sa - a) + 1 : 1, sa ? a : ".");
    snprintf(db, sizeof db, "%.*s", sb ? (int)(sb - b) + 1 : 1, sb ? b : ".");
    struct stat fa, fb;
    return stat(da, &fa) == 0 && stat(db, &fb) == 0 && fa.st_dev == fb.st_dev &&
           fa.st_ino == fb.st_ino;
}

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

cn_status cn_synth_write(const char *image, const char *labels, const cn_synth_options *options)
{
    cn_synth_options o;
    if (options)
        o = *options;
    else
        cn_synth_defaults(&o);
    if (!image || !labels)
        return cn_set_error(CN_EINVAL, "synth: no %s path given", image ? "labels" : "image");
    if (same_target(image, labels))
        return cn_set_error(CN_EINVAL, "%s: the image and the labels must be different files",
                            image);
    cn_status st = check_options(&o);
    if (st)
        return st;
    cn_gdal_init();
    int threads = o.threads ? (o.threads < 64 ? o.threads : 64) : cpu_count();
    synth_layout layout;
    synth_spectra spectra;
    scene_tiff img;
    cn_labelmap *lm = NULL;
    /* two rounds: one is rendered by the workers while the other is written */
    tile_job *jobs = calloc(2 * (size_t)threads, sizeof *jobs);
    batch rounds[2];
    memset(rounds, 0, sizeof rounds);
    memset(&img, 0, sizeof img);
    memset(&spectra, 0, sizeof spectra);
    st = jobs ? synth_layout_build(&o, &layout)
              : cn_set_error(CN_ENOMEM, "synth: out of memory");
    if (st) {
        free(jobs);
        return st;
    }
    st = synth_spectra_build(o.bands, o.classes, &spectra);
    size_t tile = (size_t)SYNTH_TILE * SYNTH_TILE;
    for (int i = 0; !st && i < 2 * threads; i++) {
        jobs[i].layout = &layout;
        jobs[i].spectra = &spectra;
        jobs[i].pixels = malloc(tile * (size_t)o.bands * sizeof *jobs[i].pixels);
        jobs[i].labels = malloc(tile * sizeof *jobs[i].labels);
        if (!jobs[i].pixels || !jobs[i].labels)
            st = cn_set_error(CN_ENOMEM, "synth: out of memory for %d tile buffers of %d bands",
                              2 * threads, o.bands);
    }
    rounds[0].jobs = jobs;
    rounds[1].jobs = jobs + threads;
    if (!st)
        st = create_outputs(image, labels, &o, &img, &lm);
    int tiles_x = (o.width + SYNTH_TILE - 1) / SYNTH_TILE;
    int64_t total = (int64_t)tiles_x * ((o.height + SYNTH_TILE - 1) / SYNTH_TILE), next = 0;
    int64_t written = 0;
    int cur = 0;
    if (!st) {
        round_plan(&rounds[0], threads, &next, total, tiles_x, &o);
        round_start(&rounds[0]);
    }
    while (!st && rounds[cur].n > 0) {
        round_finish(&rounds[cur]);
        round_plan(&rounds[!cur], threads, &next, total, tiles_x, &o);
        round_start(&rounds[!cur]);
        st = round_write(&rounds[cur], &img, lm, o.bands);
        written += rounds[cur].n;
        if (!st && o.progress && !o.progress(0.98 * (double)written / (double)total, NULL,
                                            o.progress_data))
            st = cn_set_error(CN_ECANCELLED, "%s: synth cancelled", image);
        rounds[cur].n = 0;
        cur = !cur;
    }
    round_finish(&rounds[0]); /* after a failure, workers may still be rendering */
    round_finish(&rounds[1]);
    if (!st) {
        st = cn_labelmap_commit(lm);
        lm = NULL;
        if (!st) {
            st = scene_tiff_commit(&img);
            if (st) { /* the pair or nothing */
                char aux[4096];
                unlink(labels);
                snprintf(aux, sizeof aux, "%s.aux.xml", labels);
                unlink(aux);
            }
        }
    }
    if (!st && o.progress)
        o.progress(1.0, NULL, o.progress_data);
    cn_labelmap_abort(lm);
    scene_tiff_abort(&img);
    for (int i = 0; i < 2 * threads; i++) {
        free(jobs[i].pixels);
        free(jobs[i].labels);
    }
    free(jobs);
    synth_spectra_free(&spectra);
    synth_layout_free(&layout);
    return st;
}
