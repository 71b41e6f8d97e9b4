/*
 * classify.c — a scene classified tile by tile: read a tile (every band, float32, with its
 * validity mask), keep its valid pixels, predict them in batches, put the results back in place
 * and write the tile to the label map (and the confidence and probability maps).
 *
 * Patch models (meta "input" = "patch") read each tile with a halo of P/2 pixels on every side,
 * reflected at the scene edges (cn_raster_read_reflect), and classify it with cn_patch_model:
 * every pixel then sees exactly the patch it would see in a whole-scene read, so the tiled map
 * equals the whole scene's pixel for pixel.
 *
 * Memory is set by the tile (cn_classify_plan: the tile shrinks to fit the RAM budget) and by the
 * predictor's batch, never by the scene. Every output goes through an atomic writer, committed
 * only after the last tile: a failure or a cancel leaves no output and no temporary file.
 */
#include "raster_impl.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_TILE 512
#define DEFAULT_RAM_MB 256

cn_status cn_classify_plan(int width, int height, int bands, int classes, bool confidence,
                           bool probabilities, int tile, int ram_mb, cn_tile_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    if (width < 1 || height < 1 || bands < 1 || classes < 1 || tile < 0 || ram_mb < 0)
        return cn_set_error(CN_EINVAL, "classify: bad plan arguments (%d x %d, %d bands, %d "
                            "classes, tile %d, ram %d MiB)", width, height, bands, classes, tile,
                            ram_mb);
    if (tile == 0)
        tile = DEFAULT_TILE;
    if (ram_mb == 0)
        ram_mb = DEFAULT_RAM_MB;
    /* bands <= INT_MAX and classes <= INT_MAX: at most ~1.7e10, fits size_t on 64-bit */
    size_t bpp = 4 * (size_t)bands + 1 + 4 + (confidence ? 4 : 0) +
                 (probabilities ? 4 * (size_t)classes : 0);
    size_t budget = (size_t)ram_mb << 20;
    size_t pixels = budget / bpp > 0 ? budget / bpp : 1;
    size_t tw = (size_t)(tile < width ? tile : width), th;
    if (tw > pixels) {
        tw = pixels;
        th = 1;
    } else {
        th = pixels / tw;
        if (th > (size_t)tile)
            th = (size_t)tile;
        if (th > (size_t)height)
            th = (size_t)height;
    }
    plan->tile_w = (int)tw;
    plan->tile_h = (int)th;
    plan->bytes_per_pixel = bpp;
    plan->tile_bytes = tw * th * bpp;
    return CN_OK;
}

/* What one run holds: the predictor, the outputs being written, the tile buffers. */
typedef struct run {
    cn_raster *img;
    cn_pixel_model *pm;      /* a per-pixel model, or */
    cn_patch_model *patch;   /* a patch model (exactly one of the two) */
    int halo;                /* P / 2 for a patch model, 0 otherwise */
    size_t k;                /* classes */
    cn_tile_plan plan;
    cn_labelmap *map;
    cn_raster_writer *conf, *probs; /* NULL when not asked */
    float *pixels;           /* (tile_w + 2·halo) · (tile_h + 2·halo) · bands */
    uint8_t *valid;          /* (tile_w + 2·halo) · (tile_h + 2·halo) */
    int32_t *labels;         /* tile_w · tile_h */
    float *confidence;       /* tile_w · tile_h, when conf */
    float *probabilities;    /* tile_w · tile_h · k, when probs */
} run;

static void run_free(run *r, bool abort_outputs)
{
    if (abort_outputs) {
        cn_labelmap_abort(r->map);
        cn_raster_writer_abort(r->conf);
        cn_raster_writer_abort(r->probs);
    }
    cn_pixel_model_close(r->pm);
    cn_patch_model_close(r->patch);
    free(r->pixels);
    free(r->valid);
    free(r->labels);
    free(r->confidence);
    free(r->probabilities);
}

/* The predictor's answers, whichever kind it is. */
static int model_bands(const run *r)
{
    return r->pm ? cn_pixel_model_bands(r->pm) : cn_patch_model_bands(r->patch);
}

static const char *model_band_name(const run *r, int band)
{
    return r->pm ? cn_pixel_model_band_name(r->pm, band)
                 : cn_patch_model_band_name(r->patch, band);
}

static const cn_class_info *model_classes(const run *r, size_t *count)
{
    return r->pm ? cn_pixel_model_classes(r->pm, count) : cn_patch_model_classes(r->patch, count);
}

static int model_max_id(const run *r)
{
    return r->pm ? cn_pixel_model_max_id(r->pm) : cn_patch_model_max_id(r->patch);
}

/* Opens the predictor the model's "input" asks for. */
static cn_status open_model(run *r, cn_model *model)
{
    const char *input = cn_model_get_meta(model, "input");
    if (input && strcmp(input, "patch") == 0) {
        cn_status st = cn_patch_model_open(model, &r->patch);
        if (!st)
            r->halo = cn_patch_model_patch(r->patch) / 2;
        return st;
    }
    if (input && strcmp(input, "pixel") != 0)
        return cn_set_error(CN_EINVAL, "model: its \"input\" is \"%s\"; cropnet classifies "
                            "\"pixel\" and \"patch\" models", input);
    return cn_pixel_model_open(model, &r->pm);
}

/* The model against the image: band count, and band names where both sides have them. */
static cn_status check_bands(const run *r)
{
    const char *path = cn_raster_path(r->img);
    int have = cn_raster_bands(r->img), want = model_bands(r);
    if (have != want)
        return cn_set_error(CN_EINVAL, "%s: has %d band%s, the model expects %d", path, have,
                            have == 1 ? "" : "s", want);
    if (!model_band_name(r, 1))
        return CN_OK;
    for (int b = 1; b <= have; b++)
        if (!*cn_raster_band_description(r->img, b))
            return CN_OK; /* the image does not name its bands: order cannot be checked */
    for (int b = 1; b <= have; b++) {
        const char *mine = cn_raster_band_description(r->img, b);
        const char *theirs = model_band_name(r, b);
        if (strcmp(mine, theirs) != 0)
            return cn_set_error(CN_EINVAL, "%s: band %d is '%s', the model expects '%s' (the bands "
                                "are not in the model's order)", path, b, mine, theirs);
    }
    return CN_OK;
}

/* list = the non-NULL ones of a, b, c, d, then NULL. */
static void paths(const char **list, const char *a, const char *b, const char *c, const char *d)
{
    const char *all[] = {a, b, c, d};
    int n = 0;
    for (int i = 0; i < 4; i++)
        if (all[i])
            list[n++] = all[i];
    list[n] = NULL;
}

static cn_status open_outputs(run *r, const char *map_path, const cn_classify_options *o)
{
    double gt[6];
    cn_georef geo = {cn_raster_geotransform(r->img, gt) ? gt : NULL, cn_raster_wkt(r->img)};
    int w = cn_raster_width(r->img), h = cn_raster_height(r->img);
    const char *image = cn_raster_path(r->img);
    /* each output refuses the image, the model and the other outputs as its path */
    const char *clean[3][5];
    paths(clean[0], image, o->model_path, o->confidence, o->probabilities);
    paths(clean[1], image, o->model_path, map_path, o->probabilities);
    paths(clean[2], image, o->model_path, map_path, o->confidence);
    size_t nclasses;
    const cn_class_info *classes = model_classes(r, &nclasses);
    cn_status st = cn_labelmap_create(map_path, clean[0], w, h, geo, model_max_id(r),
                                      classes, nclasses, o->creation_options, &r->map);
    if (!st && o->confidence &&
        !(st = cn_raster_writer_create(o->confidence, clean[1], w, h, 1, CN_SAMPLE_FLOAT32, geo,
                                       o->creation_options, &r->conf))) {
        if (!(st = cn_raster_writer_set_nodata(r->conf, 1, 0)))
            st = cn_raster_writer_set_description(r->conf, 1, "confidence");
    }
    if (!st && o->probabilities &&
        !(st = cn_raster_writer_create(o->probabilities, clean[2], w, h, (int)r->k,
                                       CN_SAMPLE_FLOAT32, geo, o->creation_options, &r->probs))) {
        for (size_t c = 0; !st && c < r->k; c++) {
            if (!(st = cn_raster_writer_set_nodata(r->probs, (int)c + 1, -1)))
                st = cn_raster_writer_set_description(r->probs, (int)c + 1, classes[c].name);
        }
    }
    return st;
}

/* A patch model's tile is read with its halo: the tile's height shrinks until the tile's buffers
 * with the halo fit the budget again (one row at least). */
static void fit_halo(run *r, int ram_mb)
{
    const size_t budget = (size_t)(ram_mb ? ram_mb : DEFAULT_RAM_MB) << 20;
    const size_t in_bpp = 4 * (size_t)cn_raster_bands(r->img) + 1;
    const size_t out_bpp = r->plan.bytes_per_pixel - in_bpp;
    const size_t tw = (size_t)r->plan.tile_w, two = 2 * (size_t)r->halo;
    size_t th = (size_t)r->plan.tile_h;
    while (th > 1 && (tw + two) * (th + two) * in_bpp + tw * th * out_bpp > budget)
        th--;
    r->plan.tile_h = (int)th;
    r->plan.tile_bytes = (tw + two) * (th + two) * in_bpp + tw * th * out_bpp;
}

static cn_status alloc_buffers(run *r)
{
    size_t px = (size_t)r->plan.tile_w * (size_t)r->plan.tile_h;
    size_t nb = (size_t)cn_raster_bands(r->img);
    size_t read = ((size_t)r->plan.tile_w + 2 * (size_t)r->halo) *
                  ((size_t)r->plan.tile_h + 2 * (size_t)r->halo);
    r->pixels = malloc(read * nb * sizeof *r->pixels);
    r->valid = malloc(read);
    r->labels = malloc(px * sizeof *r->labels);
    if (r->conf)
        r->confidence = malloc(px * sizeof *r->confidence);
    if (r->probs)
        r->probabilities = malloc(px * r->k * sizeof *r->probabilities);
    if (!r->pixels || !r->valid || !r->labels || (r->conf && !r->confidence) ||
        (r->probs && !r->probabilities))
        return cn_set_error(CN_ENOMEM, "%s: out of memory for a %d x %d tile (%zu bytes; lower "
                            "--ram or --tile)", cn_raster_path(r->img), r->plan.tile_w,
                            r->plan.tile_h, r->plan.tile_bytes);
    return CN_OK;
}

/* Reads what the tile at (x, y, w, h) needs. A per-pixel model needs exactly the tile; a patch
 * model the tile grown by its halo on each side, reflected past the scene's edges. */
static cn_status read_tile(run *r, int x, int y, int w, int h)
{
    if (r->halo)
        return cn_raster_read_reflect(r->img, x - r->halo, y - r->halo, w + 2 * r->halo,
                                      h + 2 * r->halo, r->pixels, r->valid);
    return cn_raster_read(r->img, x, y, w, h, r->pixels, r->valid);
}

/* Predicts the valid pixels of the tile just read (w × h) and fills the tile's outputs. */
static cn_status predict_tile(run *r, int w, int h)
{
    if (r->patch)
        return cn_patch_model_predict(r->patch, r->pixels, r->valid, w, h, r->labels,
                                      r->confidence, r->probabilities);
    const size_t n = (size_t)w * (size_t)h;
    const size_t nb = (size_t)cn_raster_bands(r->img), k = r->k;
    size_t m = 0; /* valid pixels moved to the front, in order */
    for (size_t i = 0; i < n; i++)
        if (r->valid[i]) {
            if (m != i)
                memcpy(r->pixels + m * nb, r->pixels + i * nb, nb * sizeof *r->pixels);
            m++;
        }
    cn_status st = cn_pixel_model_predict(r->pm, r->pixels, (int64_t)m, r->labels, r->confidence,
                                          r->probabilities);
    if (st)
        return st;
    /* back to their places, from the end: pixel i's result sits at m' <= i */
    for (size_t i = n; i-- > 0;) {
        if (r->valid[i]) {
            m--;
            r->labels[i] = r->labels[m];
            if (r->confidence)
                r->confidence[i] = r->confidence[m];
            if (r->probabilities && m != i)
                memcpy(r->probabilities + i * k, r->probabilities + m * k,
                       k * sizeof *r->probabilities);
        } else {
            r->labels[i] = 0;
            if (r->confidence)
                r->confidence[i] = 0.0f;
            for (size_t c = 0; r->probabilities && c < k; c++)
                r->probabilities[i * k + c] = -1.0f;
        }
    }
    return CN_OK;
}

static cn_status tiles(run *r, const char *map_path, const cn_classify_options *o)
{
    const int W = cn_raster_width(r->img), H = cn_raster_height(r->img);
    const int tw = r->plan.tile_w, th = r->plan.tile_h;
    const double total = (double)((W + tw - 1) / tw) * (double)((H + th - 1) / th);
    double done = 0;
    if (o->progress && !o->progress(0.0, NULL, o->progress_data))
        return cn_set_error(CN_ECANCELLED, "%s: cancelled", map_path);
    for (int y = 0; y < H; y += th)
        for (int x = 0; x < W; x += tw) {
            int w = W - x < tw ? W - x : tw, h = H - y < th ? H - y : th;
            cn_status st;
            if ((st = read_tile(r, x, y, w, h)) || (st = predict_tile(r, w, h)) ||
                (st = cn_labelmap_write(r->map, x, y, w, h, r->labels)) ||
                (r->conf && (st = cn_raster_writer_write(r->conf, x, y, w, h, r->confidence))) ||
                (r->probs &&
                 (st = cn_raster_writer_write(r->probs, x, y, w, h, r->probabilities))))
                return st;
            done += 1;
            if (o->progress && !o->progress(done / total, NULL, o->progress_data))
                return cn_set_error(CN_ECANCELLED, "%s: cancelled", map_path);
        }
    return CN_OK;
}

/* Commits the extra outputs first and the map last: the map is the one a reader looks for. */
static cn_status commit(run *r)
{
    cn_status st = CN_OK;
    if (r->probs) {
        st = cn_raster_writer_commit(r->probs);
        r->probs = NULL;
    }
    if (r->conf) {
        cn_status s2 = st ? (cn_raster_writer_abort(r->conf), st) : cn_raster_writer_commit(r->conf);
        st = st ? st : s2;
        r->conf = NULL;
    }
    if (st) {
        cn_labelmap_abort(r->map);
    } else {
        st = cn_labelmap_commit(r->map);
    }
    r->map = NULL;
    return st;
}

cn_status cn_classify_raster(cn_raster *image, cn_model *model, const char *map_path,
                             const cn_classify_options *opt)
{
    if (!image || !model || !map_path)
        return cn_set_error(CN_EINVAL, "classify: NULL argument");
    cn_classify_options defaults;
    memset(&defaults, 0, sizeof defaults);
    const cn_classify_options *o = opt ? opt : &defaults;
    run r;
    memset(&r, 0, sizeof r);
    r.img = image;
    cn_status st = open_model(&r, model);
    if (st) {
        st = cn_error_prefix(st, o->model_path ? o->model_path : "model", "model: ");
        goto fail;
    }
    model_classes(&r, &r.k);
    if ((st = check_bands(&r)) ||
        (st = cn_classify_plan(cn_raster_width(image), cn_raster_height(image),
                               cn_raster_bands(image), (int)r.k, o->confidence != NULL,
                               o->probabilities != NULL, o->tile, o->ram_mb, &r.plan)))
        goto fail;
    fit_halo(&r, o->ram_mb);
    if ((st = open_outputs(&r, map_path, o)) || (st = alloc_buffers(&r)) ||
        (st = tiles(&r, map_path, o)))
        goto fail;
    st = commit(&r);
    run_free(&r, false);
    return st;
fail:
    run_free(&r, true);
    return st;
}

cn_status cn_classify(const char *image, cn_model *model, const char *map_path,
                      const cn_classify_options *opt)
{
    if (!image)
        return cn_set_error(CN_EINVAL, "classify: NULL argument");
    cn_raster *r;
    cn_status st = cn_raster_open(image, &r);
    if (st)
        return st;
    st = cn_classify_raster(r, model, map_path, opt);
    cn_raster_close(r);
    return st;
}
