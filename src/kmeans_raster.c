/*
 * kmeans_raster.c — k-means on scenes of any size: the fit (Lloyd on the sample of
 * kmeans_sample.c, or mini-batch k-means streamed over every valid pixel) and the segment map
 * labelled tile by tile.
 *
 * Mini-batch fitting initialises on a sample, then feeds every valid pixel to the model, tile
 * after tile, in batches drawn in a shuffled order within each tile. Labelling reads the scene
 * again tile by tile, predicts the valid pixels and writes ids 1..k through the atomic label-map
 * writer, whose dataset metadata gets the centroids and the inertia. Memory is set by the tile
 * and the sample, never by the scene.
 */
#include "kmeans_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    kscan s;
    memset(&s, 0, sizeof s);
    cn_status st = kmeans_sample(img, o, init_size, &init, &count, &seen);
    if (st)
        return st;
    cn_kmeans_options ko = o->kmeans;
    if ((st = kmeans_check_options(&ko, d, seen)))
        goto done;
    cn_rng_seed(&km->rng, ko.seed);
    if ((st = kmb_init(km, init, count, &ko)) ||
        (st = kmb_begin(km, batch, seen, ko.threads, &mb)) || (st = kscan_begin(&s, img, o)))
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
        if ((st = kscan_next(&s, &more)))
            break;
        if (!more) { /* another pass over the scene */
            kscan_end(&s);
            if ((st = kscan_begin(&s, img, o)))
                break;
            continue;
        }
        int64_t m = kscan_compact(&s);
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
        if (!st && !kscan_progress(o, (double)taken / (double)steps, "k-means"))
            st = kscan_cancelled(img);
    }
    if (!st && filled > 0 && taken < steps) /* the scene's last, partial batch */
        st = kmb_step(&mb, buf, filled, NULL);
    km->pixels = seen;
done:
    kscan_end(&s);
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
    kscan s;
    cn_labelmap *map = NULL;
    int32_t *labels = NULL;
    cn_status st = kscan_begin(&s, image, o);
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
    if (!kscan_progress(o, 0, "labelling")) {
        st = kscan_cancelled(image);
        goto fail;
    }
    while ((st = kscan_next(&s, &more)) == CN_OK && more) {
        int64_t m = kscan_compact(&s), n = (int64_t)s.w * s.h;
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
        if (!kscan_progress(o, (double)s.done / (double)s.tiles, "labelling")) {
            st = kscan_cancelled(image);
            goto fail;
        }
    }
    if (st)
        goto fail;
    if (valid == 0) {
        st = kscan_no_valid_pixel(image);
        goto fail;
    }
    if ((st = describe(map, km, inertia)))
        goto fail;
    kscan_end(&s);
    free(labels);
    st = cn_labelmap_commit(map);
    if (!st && inertia_out)
        *inertia_out = inertia;
    return st;
fail:
    kscan_end(&s);
    free(labels);
    cn_labelmap_abort(map);
    return st;
}
