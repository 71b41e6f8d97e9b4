/*
 * kmeans_raster.c — k-means on scenes of any size: the fitting sample, the streamed mini-batch
 * fit, and the segment map labelled tile by tile.
 *
 * The sample is drawn in one pass over the scene: every valid pixel gets a pseudo-random key
 * hashed from the seed and its position, and the pixels of the smallest keys are kept (a bounded
 * max-heap). That is a uniform sample without replacement, found without knowing the number of
 * valid pixels beforehand, independent of the tile size (so is the fit), in memory the sample
 * plus one tile; it is returned in scene order. Mini-batch fitting instead feeds every valid pixel to the model, tile
 * after tile, in batches drawn in a shuffled order within each tile. Labelling reads the scene
 * again tile by tile (the tile plan of cn_classify), predicts the valid pixels and writes ids
 * 1..k through the atomic label-map writer, whose dataset metadata gets the centroids and the
 * inertia. Memory is set by the tile and the sample, never by the scene.
 */
#include "kmeans_impl.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One tile's buffers and the walk over the scene. */
typedef struct scan {
    cn_raster *img;
    cn_tile_plan plan;
    int bands;
    float *pixels;  /* tile_w · tile_h · bands */
    uint8_t *valid; /* tile_w · tile_h */
    int x, y, w, h; /* the tile just read */
    int64_t tiles, done;
} scan;

static cn_status scan_begin(scan *s, cn_raster *img, const cn_cluster_options *o)
{
    memset(s, 0, sizeof *s);
    s->img = img;
    s->bands = cn_raster_bands(img);
    int W = cn_raster_width(img), H = cn_raster_height(img);
    cn_status st = cn_classify_plan(W, H, s->bands, 1, false, false, o->tile, o->ram_mb, &s->plan);
    if (st)
        return st;
    size_t px = (size_t)s->plan.tile_w * (size_t)s->plan.tile_h;
    s->pixels = malloc(px * (size_t)s->bands * sizeof *s->pixels);
    s->valid = malloc(px);
    if (!s->pixels || !s->valid) {
        free(s->pixels);
        free(s->valid);
        return cn_set_error(CN_ENOMEM, "%s: out of memory for a %d x %d tile", cn_raster_path(img),
                            s->plan.tile_w, s->plan.tile_h);
    }
    s->tiles = (int64_t)((W + s->plan.tile_w - 1) / s->plan.tile_w) *
               ((H + s->plan.tile_h - 1) / s->plan.tile_h);
    s->x = s->y = 0;
    s->w = s->h = 0;
    return CN_OK;
}

/* Reads the next tile; *more false once the scene is done. */
static cn_status scan_next(scan *s, bool *more)
{
    int W = cn_raster_width(s->img), H = cn_raster_height(s->img);
    if (s->w > 0) { /* step past the tile just read */
        s->x += s->plan.tile_w;
        if (s->x >= W) {
            s->x = 0;
            s->y += s->plan.tile_h;
        }
    }
    *more = s->y < H;
    if (!*more)
        return CN_OK;
    s->w = W - s->x < s->plan.tile_w ? W - s->x : s->plan.tile_w;
    s->h = H - s->y < s->plan.tile_h ? H - s->y : s->plan.tile_h;
    s->done++;
    return cn_raster_read(s->img, s->x, s->y, s->w, s->h, s->pixels, s->valid);
}

/* Moves the tile's valid pixels to the front, in order; returns their number. */
static int64_t scan_compact(scan *s)
{
    const size_t nb = (size_t)s->bands, n = (size_t)s->w * (size_t)s->h;
    int64_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s->valid[i]) {
            if ((size_t)m != i)
                memcpy(s->pixels + (size_t)m * nb, s->pixels + i * nb, nb * sizeof *s->pixels);
            m++;
        }
    return m;
}

static void scan_end(scan *s)
{
    free(s->pixels);
    free(s->valid);
    s->pixels = NULL;
    s->valid = NULL;
}

static bool progress(const cn_cluster_options *o, double f, const char *stage)
{
    return !o->kmeans.progress || o->kmeans.progress(f, stage, o->kmeans.progress_data) != 0;
}

static cn_status cancelled(const cn_raster *img)
{
    return cn_set_error(CN_ECANCELLED, "%s: cancelled", cn_raster_path(img));
}

static cn_status no_valid_pixel(const cn_raster *img)
{
    return cn_set_error(CN_EINVAL, "%s: has no valid pixel (every pixel is nodata, NaN or "
                        "infinite)", cn_raster_path(img));
}

/* The default sample size for b bands (see CN_CLUSTER_SAMPLE_*). */
static int64_t default_sample(int b)
{
    int64_t by_bytes = CN_CLUSTER_SAMPLE_BYTES / ((int64_t)b * (int64_t)sizeof(float));
    return by_bytes < CN_CLUSTER_SAMPLE_PIXELS ? by_bytes : CN_CLUSTER_SAMPLE_PIXELS;
}

/* The sample's pixel keys: a hash of the seed and the pixel's position, so which pixels are kept
 * does not depend on the order the tiles are read in. */
typedef struct entry {
    uint64_t key;
    int64_t index; /* y · width + x */
    int64_t slot;  /* row of the sample buffer holding the pixel */
} entry;

static uint64_t pixel_key(uint64_t seed, int64_t index)
{
    uint64_t z = seed ^ ((uint64_t)index * 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static bool above(const entry *a, const entry *b)
{
    return a->key > b->key || (a->key == b->key && a->index > b->index);
}

/* Max-heap on (key, index): the root is the entry to drop first. */
static void sift_down(entry *h, int64_t n, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && above(&h[l], &h[m]))
            m = l;
        if (r < n && above(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        entry t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(entry *h, int64_t i)
{
    while (i > 0 && above(&h[i], &h[(i - 1) / 2])) {
        entry t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static int by_index(const void *a, const void *b)
{
    int64_t x = ((const entry *)a)->index, y = ((const entry *)b)->index;
    return (x > y) - (x < y);
}

/* Puts the sample rows in scene order, in place (cycles of the permutation, one row of scratch). */
static cn_status scene_order(entry *h, int64_t n, float *rows, size_t nb)
{
    qsort(h, (size_t)n, sizeof *h, by_index);
    float *tmp = malloc(nb * sizeof *tmp);
    uint8_t *done = calloc((size_t)n, 1);
    if (!tmp || !done) {
        free(tmp);
        free(done);
        return cn_set_error(CN_ENOMEM, "k-means: out of memory");
    }
    for (int64_t r = 0; r < n; r++) { /* row r must receive slot h[r].slot */
        if (done[r])
            continue;
        memcpy(tmp, rows + (size_t)r * nb, nb * sizeof *tmp);
        int64_t cur = r;
        for (;;) {
            done[cur] = 1;
            int64_t next = h[cur].slot;
            if (next == r) {
                memcpy(rows + (size_t)cur * nb, tmp, nb * sizeof *tmp);
                break;
            }
            memcpy(rows + (size_t)cur * nb, rows + (size_t)next * nb, nb * sizeof *tmp);
            cur = next;
        }
    }
    free(tmp);
    free(done);
    return CN_OK;
}

/* A uniform sample of up to cap valid pixels without replacement (the cap smallest keys), in
 * scene order; *seen = all valid pixels of the scene. */
static cn_status sample(cn_raster *img, const cn_cluster_options *o, int64_t cap, float **pixels,
                        int64_t *count, int64_t *seen)
{
    *pixels = NULL;
    *count = *seen = 0;
    const int64_t W = cn_raster_width(img), H = cn_raster_height(img);
    if (cap > W * H)
        cap = W * H;
    const size_t nb = (size_t)cn_raster_bands(img);
    if ((uint64_t)cap > SIZE_MAX / sizeof(entry) / nb)
        return cn_set_error(CN_EOVERFLOW, "%s: a sample of %" PRId64 " pixels is too large",
                            cn_raster_path(img), cap);
    float *res = malloc((size_t)cap * nb * sizeof *res);
    entry *heap = malloc((size_t)cap * sizeof *heap);
    if (!res || !heap) {
        free(res);
        free(heap);
        return cn_set_error(CN_ENOMEM, "%s: out of memory for a sample of %" PRId64 " pixels "
                            "(lower --sample)", cn_raster_path(img), cap);
    }
    scan s;
    cn_status st = scan_begin(&s, img, o);
    bool more = true;
    int64_t n = 0, kept = 0;
    while (!st && (st = scan_next(&s, &more)) == CN_OK && more) {
        for (int ty = 0; ty < s.h; ty++)
            for (int tx = 0; tx < s.w; tx++) {
                size_t i = (size_t)ty * (size_t)s.w + (size_t)tx;
                if (!s.valid[i])
                    continue;
                n++;
                int64_t index = (int64_t)(s.y + ty) * W + (s.x + tx);
                entry e = {pixel_key(o->kmeans.seed, index), index, kept};
                if (kept < cap) {
                    heap[kept] = e;
                    sift_up(heap, kept++);
                } else if (above(&heap[0], &e)) {
                    e.slot = heap[0].slot;
                    heap[0] = e;
                    sift_down(heap, kept, 0);
                } else {
                    continue;
                }
                memcpy(res + (size_t)e.slot * nb, s.pixels + i * nb, nb * sizeof *res);
            }
        if (!progress(o, (double)s.done / (double)s.tiles, "sampling"))
            st = cancelled(img);
    }
    scan_end(&s);
    if (!st && n == 0)
        st = no_valid_pixel(img);
    if (!st)
        st = scene_order(heap, kept, res, nb);
    free(heap);
    if (st) {
        free(res);
        return st;
    }
    *pixels = res;
    *count = kept;
    *seen = n;
    return CN_OK;
}

cn_status cn_cluster_sample(cn_raster *image, const cn_cluster_options *o, float **pixels,
                            int64_t *count)
{
    if (!image || !o || !pixels || !count)
        return cn_set_error(CN_EINVAL, "cluster: NULL argument");
    if (o->sample < 0)
        return cn_set_error(CN_EINVAL, "cluster: the sample size must be >= 0");
    int64_t seen;
    int64_t cap = o->sample > 0 ? o->sample : default_sample(cn_raster_bands(image));
    return sample(image, o, cap, pixels, count, &seen);
}

/* Mini-batch over the whole scene: init on a sample, then every valid pixel in batches. */
static cn_status fit_streamed(cn_raster *img, const cn_cluster_options *o, cn_kmeans *km)
{
    const int k = km->k, d = km->d;
    const int64_t batch = o->batch;
    int64_t init_size = 3 * batch > 3 * (int64_t)k ? 3 * batch : 3 * (int64_t)k;
    float *init = NULL, *buf = NULL;
    int64_t count, seen, *order = NULL;
    kminibatch mb;
    memset(&mb, 0, sizeof mb);
    scan s;
    memset(&s, 0, sizeof s);
    cn_status st = sample(img, o, init_size, &init, &count, &seen);
    if (st)
        return st;
    cn_kmeans_options ko = o->kmeans;
    if ((st = kmeans_check_options(&ko, d, seen)))
        goto done;
    cn_rng_seed(&km->rng, ko.seed);
    if ((st = kmb_init(km, init, count, &ko)) ||
        (st = kmb_begin(km, batch, seen, ko.threads, &mb)) || (st = scan_begin(&s, img, o)))
        goto done;
    size_t px = (size_t)s.plan.tile_w * (size_t)s.plan.tile_h;
    buf = malloc((size_t)batch * (size_t)d * sizeof *buf);
    order = malloc(px * sizeof *order);
    if (!buf || !order) {
        st = cn_set_error(CN_ENOMEM, "%s: out of memory for batches", cn_raster_path(img));
        goto done;
    }
    const int64_t per_pass = (seen + batch - 1) / batch;
    const int64_t steps = o->steps > 0 ? o->steps : per_pass;
    int64_t taken = 0, filled = 0;
    while (!st && taken < steps) {
        bool more;
        if ((st = scan_next(&s, &more)))
            break;
        if (!more) { /* another pass over the scene */
            scan_end(&s);
            if ((st = scan_begin(&s, img, o)))
                break;
            continue;
        }
        int64_t m = scan_compact(&s);
        for (int64_t i = 0; i < m; i++)
            order[i] = i;
        for (int64_t i = m - 1; i > 0; i--) { /* Fisher–Yates within the tile */
            int64_t j = (int64_t)cn_rng_below(&km->rng, (uint64_t)i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int64_t i = 0; i < m && taken < steps; i++) {
            memcpy(buf + (size_t)filled * (size_t)d, s.pixels + (size_t)order[i] * (size_t)d,
                   (size_t)d * sizeof *buf);
            if (++filled == batch) {
                if ((st = kmb_step(&mb, buf, filled, NULL)))
                    break;
                filled = 0;
                taken++;
            }
        }
        if (!st && !progress(o, (double)taken / (double)steps, "k-means"))
            st = cancelled(img);
    }
    if (!st && filled > 0 && taken < steps) /* the scene's last, partial batch */
        st = kmb_step(&mb, buf, filled, NULL);
    km->pixels = seen;
done:
    scan_end(&s);
    kmb_end(&mb);
    free(init);
    free(buf);
    free(order);
    return st;
}

cn_status cn_cluster_fit(cn_raster *image, const cn_cluster_options *o, cn_kmeans **out)
{
    if (!image || !o || !out)
        return cn_set_error(CN_EINVAL, "cluster: NULL argument");
    *out = NULL;
    if (o->sample < 0 || o->batch < 0 || o->steps < 0)
        return cn_set_error(CN_EINVAL, "cluster: sample, batch and steps must be >= 0");
    const int d = cn_raster_bands(image);
    cn_status st;
    if (o->batch > 0) {
        cn_kmeans *km;
        if ((st = kmeans_check_options(&o->kmeans, d, INT64_MAX)) ||
            (st = cn_kmeans_new(o->kmeans.k, d, NULL, &km)))
            return st;
        if ((st = fit_streamed(image, o, km))) {
            cn_kmeans_free(km);
            return st;
        }
        *out = km;
        return CN_OK;
    }
    float *pixels;
    int64_t count;
    if ((st = cn_cluster_sample(image, o, &pixels, &count)))
        return st;
    st = cn_kmeans_fit(pixels, count, d, &o->kmeans, NULL, out);
    free(pixels);
    if (st == CN_EINVAL && count < o->kmeans.k) /* name the scene, not just "k-means" */
        st = cn_set_error(st, "%s: k = %d is more than the %lld valid pixels of the %s",
                          cn_raster_path(image), o->kmeans.k, (long long)count,
                          o->sample > 0 ? "sample" : "scene");
    return st;
}

/* ---------------------------------------------------------------- the segment map */

/* KEY = v printed with %.9g (integers print exactly up to 2^53 with %.17g; counts use that). */
static cn_status set_meta(cn_labelmap *map, const char *key, double v, bool integer)
{
    char buf[64];
    if (integer)
        snprintf(buf, sizeof buf, "%.17g", v);
    else
        snprintf(buf, sizeof buf, "%.9g", v);
    return cn_labelmap_set_metadata(map, key, buf);
}

static cn_status describe(cn_labelmap *map, const cn_kmeans *km, double inertia)
{
    char *rows = kmeans_centroids_json(km);
    if (!rows)
        return cn_set_error(CN_ENOMEM, "k-means: out of memory");
    cn_status st = cn_labelmap_set_metadata(map, "KMEANS_CENTROIDS", rows);
    free(rows);
    if (!st)
        st = set_meta(map, "KMEANS_K", km->k, true);
    if (!st)
        st = set_meta(map, "KMEANS_BANDS", km->d, true);
    if (!st)
        st = set_meta(map, "KMEANS_INERTIA", inertia, false);
    if (!st && isfinite(km->inertia))
        st = set_meta(map, "KMEANS_FIT_INERTIA", km->inertia, false);
    if (!st && km->iterations > 0)
        st = set_meta(map, "KMEANS_ITERATIONS", km->iterations, true);
    if (!st && km->pixels > 0)
        st = set_meta(map, "KMEANS_FIT_PIXELS", (double)km->pixels, true);
    return st;
}

static cn_status open_map(const cn_kmeans *km, cn_raster *img, const char *path,
                          const cn_cluster_options *o, cn_labelmap **map)
{
    const char *list[34] = {cn_raster_path(img)};
    int n = 1;
    for (int i = 0; o->inputs && o->inputs[i] && n < 33; i++)
        list[n++] = o->inputs[i];
    list[n] = NULL;
    cn_class_info *classes = calloc((size_t)km->k, sizeof *classes);
    if (!classes)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    for (int j = 0; j < km->k; j++) {
        classes[j].id = j + 1;
        snprintf(classes[j].name, sizeof classes[j].name, "segment %d", j + 1);
        cn_class_default_rgb(j + 1, classes[j].rgb);
    }
    double gt[6];
    cn_georef geo = {cn_raster_geotransform(img, gt) ? gt : NULL, cn_raster_wkt(img)};
    cn_status st = cn_labelmap_create(path, list, cn_raster_width(img), cn_raster_height(img),
                                      geo, km->k, classes, (size_t)km->k, o->creation_options,
                                      map);
    free(classes);
    return st;
}

cn_status cn_cluster_label(const cn_kmeans *km, cn_raster *image, const char *path,
                           const cn_cluster_options *o, double *inertia_out)
{
    if (!km || !image || !path || !o)
        return cn_set_error(CN_EINVAL, "cluster: NULL argument");
    if (!km->centroids)
        return cn_set_error(CN_EINVAL, "%s: the k-means model has no centroids yet", path);
    if (cn_raster_bands(image) != km->d)
        return cn_set_error(CN_ESHAPE, "%s: has %d band%s, the model has %d",
                            cn_raster_path(image), cn_raster_bands(image),
                            cn_raster_bands(image) == 1 ? "" : "s", km->d);
    if (km->k > CN_CLASS_ID_MAX)
        return cn_set_error(CN_EINVAL, "%s: %d segments do not fit a label map (at most %d)",
                            path, km->k, CN_CLASS_ID_MAX);
    scan s;
    cn_labelmap *map = NULL;
    int32_t *labels = NULL;
    cn_status st = scan_begin(&s, image, o);
    if (st)
        return st;
    if ((st = open_map(km, image, path, o, &map)))
        goto fail;
    labels = malloc((size_t)s.plan.tile_w * (size_t)s.plan.tile_h * sizeof *labels);
    if (!labels) {
        st = cn_set_error(CN_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    double inertia = 0;
    int64_t valid = 0;
    bool more;
    if (!progress(o, 0, "labelling")) {
        st = cancelled(image);
        goto fail;
    }
    while ((st = scan_next(&s, &more)) == CN_OK && more) {
        int64_t m = scan_compact(&s), n = (int64_t)s.w * s.h;
        double part;
        if ((st = cn_kmeans_predict(km, s.pixels, m, km->d, o->kmeans.threads, labels, NULL,
                                    &part)))
            goto fail;
        inertia += part;
        for (int64_t i = n; i-- > 0;) /* back to their places, from the end */
            labels[i] = s.valid[i] ? (labels[--m] < 0 ? 0 : labels[m] + 1) : 0;
        for (int64_t i = 0; i < n; i++)
            valid += labels[i] > 0;
        if ((st = cn_labelmap_write(map, s.x, s.y, s.w, s.h, labels)))
            goto fail;
        if (!progress(o, (double)s.done / (double)s.tiles, "labelling")) {
            st = cancelled(image);
            goto fail;
        }
    }
    if (st)
        goto fail;
    if (valid == 0) {
        st = no_valid_pixel(image);
        goto fail;
    }
    if ((st = describe(map, km, inertia)))
        goto fail;
    scan_end(&s);
    free(labels);
    st = cn_labelmap_commit(map);
    if (!st && inertia_out)
        *inertia_out = inertia;
    return st;
fail:
    scan_end(&s);
    free(labels);
    cn_labelmap_abort(map);
    return st;
}
