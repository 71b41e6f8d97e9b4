/*
 * split.c — a stratified, seeded train/test split of a label raster.
 *
 * The label raster is streamed in row strips, several times: to count each class, (block mode)
 * to find each block's majority class, to decide every labelled pixel's side into a one-bit-per-
 * pixel map, and to write both outputs (dropping test pixels near training ones for a buffer).
 * Memory is that bit map plus one strip.
 *
 * Randomness: every class draws from its own generator, seeded from the seed and the class id,
 * so a class's split does not change when another class is added or removed. In pixel mode the
 * training pixels are chosen by selection sampling (Knuth's Algorithm S) in raster order: each
 * of the n pixels of a class is taken with probability (t - taken) / (n - seen), which picks
 * exactly t of them, every t-subset equally likely, without storing the class's pixels.
 */
#include "cn_output.h"
#include "cn_split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIT_GET(map, i) (((map)[(i) >> 6] >> ((i) & 63)) & 1u)
#define BIT_SET(map, i) ((map)[(i) >> 6] |= (uint64_t)1 << ((i) & 63))

static void remove_sidecar(const char *path)
{
    char aux[4096];
    if ((size_t)snprintf(aux, sizeof aux, "%s.aux.xml", path) < sizeof aux)
        unlink(aux);
}

void cn_split_result_free(cn_split_result *r)
{
    if (!r)
        return;
    free(r->classes);
    memset(r, 0, sizeof *r);
}

static void ctx_free(cn_split_ctx *s)
{
    cn_raster_close(s->lab);
    free(s->ids);
    free(s->index);
    free(s->classes);
    free(s->rngs);
    free(s->target);
    free(s->seen);
    free(s->taken);
    free(s->train_blocks);
    free(s->train_px);
    memset(s, 0, sizeof *s);
}

cn_status cn_split_progress(cn_split_ctx *s, int y)
{
    if (!s->opt.progress)
        return CN_OK;
    double f = (s->pass + (double)y / s->height) / s->npasses;
    if (!s->opt.progress(f, "split", s->opt.progress_data))
        return cn_set_error(CN_ECANCELLED, "%s: split cancelled", s->path);
    return CN_OK;
}

cn_status cn_split_read(cn_split_ctx *s, int y0, int *h)
{
    *h = s->height - y0 < s->strip_rows ? s->height - y0 : s->strip_rows;
    cn_status st = cn_split_progress(s, y0);
    return st ? st : cn_labels_read_rows(s->lab, y0, *h, s->ids);
}

/* Pass 1: the classes present and their pixel counts. */
static cn_status count_classes(cn_split_ctx *s)
{
    int64_t *counts = calloc(65536, sizeof *counts);
    if (!counts)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", s->path);
    cn_status st = CN_OK;
    for (int y0 = 0, h; !st && y0 < s->height; y0 += h)
        if (!(st = cn_split_read(s, y0, &h)))
            for (size_t i = 0; i < (size_t)s->width * (size_t)h; i++)
                counts[s->ids[i]]++;
    s->pass++;
    for (int id = 1; !st && id < 65536; id++)
        s->nclasses += counts[id] > 0;
    if (!st && s->nclasses == 0)
        st = cn_set_error(CN_EINVAL, "%s: has no labelled pixel (every value is 0 or nodata)",
                          s->path);
    size_t k = s->nclasses;
    if (!st && (!(s->classes = calloc(k, sizeof *s->classes)) || !(s->rngs = calloc(k, sizeof *s->rngs))
                || !(s->target = calloc(k, sizeof *s->target)) || !(s->seen = calloc(k, sizeof *s->seen))
                || !(s->taken = calloc(k, sizeof *s->taken))))
        st = cn_set_error(CN_ENOMEM, "%s: out of memory", s->path);
    for (int id = 1, j = 0; !st && id < 65536; id++)
        if (counts[id]) {
            s->classes[j].id = id;
            s->classes[j].labelled = counts[id];
            /* one stream per class: splitmix64 in cn_rng_seed decorrelates nearby seeds */
            cn_rng_seed(&s->rngs[j], s->opt.seed ^ ((uint64_t)id * 0x9e3779b97f4a7c15ULL));
            s->index[id] = ++j;
        }
    free(counts);
    return st;
}

/* Training pixels wanted for class j (see cn_split_labels), or an error when too few. */
static cn_status class_target(cn_split_ctx *s, size_t j)
{
    int64_t n = s->classes[j].labelled, t;
    if (s->opt.per_class > 0) {
        if (n < s->opt.per_class)
            return cn_set_error(CN_EINVAL, "%s: class %d has %lld labelled pixels, fewer than the "
                                "%lld asked (--per-class)", s->path, s->classes[j].id,
                                (long long)n, (long long)s->opt.per_class);
        t = s->opt.per_class;
    } else {
        t = (int64_t)(s->opt.train_fraction * (double)n + 0.5);
        if (n >= 2 && t < 1)
            t = 1;
        if (n >= 2 && t > n - 1 && s->opt.block == 0)
            t = n - 1;
    }
    s->target[j] = t;
    return CN_OK;
}

/* Pass 3: every labelled pixel's side into the bit map. */
static cn_status assign(cn_split_ctx *s)
{
    cn_status st = CN_OK;
    size_t w = (size_t)s->width;
    for (int y0 = 0, h; !st && y0 < s->height; y0 += h) {
        if ((st = cn_split_read(s, y0, &h)))
            break;
        for (size_t i = 0; i < w * (size_t)h; i++) {
            if (!s->ids[i])
                continue;
            size_t y = (size_t)y0 + i / w, x = i % w, j = (size_t)s->index[s->ids[i]] - 1;
            bool train;
            if (s->opt.block > 0) {
                size_t b = (y / (size_t)s->opt.block) * s->blocks_x + x / (size_t)s->opt.block;
                train = BIT_GET(s->train_blocks, b);
            } else {
                int64_t left = s->classes[j].labelled - s->seen[j]++;
                train = (int64_t)cn_rng_below(&s->rngs[j], (uint64_t)left) < s->target[j] - s->taken[j];
                s->taken[j] += train;
            }
            if (train)
                BIT_SET(s->train_px, y * w + x);
        }
    }
    s->pass++;
    return st;
}

/* The buffer: counts of training pixels per column over rows [y - R, y + R], kept up to date
 * as y advances one row at a time. */
static void buffer_add_row(cn_split_ctx *s, int32_t *colsum, int y, int sign)
{
    if (y < 0 || y >= s->height)
        return;
    size_t w = (size_t)s->width, base = (size_t)y * w;
    for (size_t x = 0; x < w; x++)
        colsum[x] += sign * (int32_t)BIT_GET(s->train_px, base + x);
}

/* Pass 4: both outputs. near (width + 1) holds prefix sums of colsum for the row. */
static cn_status write_outputs(cn_split_ctx *s, cn_labelmap *tw, cn_labelmap *vw)
{
    size_t w = (size_t)s->width, strip = w * (size_t)s->strip_rows;
    int r = s->opt.buffer;
    int32_t *tr = malloc(strip * sizeof *tr), *te = malloc(strip * sizeof *te);
    int32_t *colsum = calloc(w, sizeof *colsum);
    int64_t *prefix = malloc((w + 1) * sizeof *prefix);
    cn_status st = tr && te && colsum && prefix ? CN_OK
                                                : cn_set_error(CN_ENOMEM, "%s: out of memory", s->path);
    for (int y = 0; !st && y < r; y++)
        buffer_add_row(s, colsum, y, 1);
    for (int y0 = 0, h; !st && y0 < s->height; y0 += h) {
        if ((st = cn_split_read(s, y0, &h)))
            break;
        for (int dy = 0; dy < h; dy++) {
            int y = y0 + dy;
            if (r > 0) {
                buffer_add_row(s, colsum, y + r, 1);
                buffer_add_row(s, colsum, y - r - 1, -1);
                prefix[0] = 0;
                for (size_t x = 0; x < w; x++)
                    prefix[x + 1] = prefix[x] + colsum[x];
            }
            for (size_t x = 0; x < w; x++) {
                size_t i = (size_t)dy * w + x;
                int32_t id = s->ids[i];
                tr[i] = te[i] = 0;
                if (!id)
                    continue;
                cn_split_class *c = &s->classes[s->index[id] - 1];
                if (BIT_GET(s->train_px, (size_t)y * w + x)) {
                    tr[i] = id;
                    c->train++;
                    continue;
                }
                if (r > 0) {
                    size_t lo = x >= (size_t)r ? x - (size_t)r : 0;
                    size_t hi = x + (size_t)r + 1 < w ? x + (size_t)r + 1 : w;
                    if (prefix[hi] - prefix[lo] > 0) {
                        c->dropped++;
                        continue;
                    }
                }
                te[i] = id;
                c->test++;
            }
        }
        if (!st)
            st = cn_labelmap_write(tw, 0, y0, s->width, h, tr);
        if (!st)
            st = cn_labelmap_write(vw, 0, y0, s->width, h, te);
    }
    s->pass++;
    free(tr);
    free(te);
    free(colsum);
    free(prefix);
    return st;
}

static cn_status check_options(const char *labels, const char *train, const char *test,
                               cn_split_options *o)
{
    if (!labels || !train || !test)
        return cn_set_error(CN_EINVAL, "split: the labels, train and test paths are required");
    if (o->per_class < 0)
        return cn_set_error(CN_EINVAL, "split: per_class must be >= 0 (given %lld)",
                            (long long)o->per_class);
    if (o->per_class == 0 && o->train_fraction == 0)
        o->train_fraction = CN_SPLIT_DEFAULT_FRACTION;
    if (o->per_class == 0 && !(o->train_fraction > 0 && o->train_fraction < 1))
        return cn_set_error(CN_EINVAL, "split: the training fraction must be in (0, 1) (given %g)",
                            o->train_fraction);
    if (o->block < 0 || o->buffer < 0)
        return cn_set_error(CN_EINVAL, "split: block and buffer must be >= 0 (given %d, %d)",
                            o->block, o->buffer);
    if (cn_same_file(train, test))
        return cn_set_error(CN_EINVAL, "%s: the train and test outputs are the same file", train);
    return CN_OK;
}

/* Writes both outputs and commits them together. */
static cn_status write_both(cn_split_ctx *s, const char *train_path, const char *test_path)
{
    const char *inputs[] = {s->path, NULL};
    cn_class_info *cls = calloc(s->nclasses, sizeof *cls);
    if (!cls)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", s->path);
    for (size_t j = 0; j < s->nclasses; j++)
        cn_labels_class(s->lab, s->classes[j].id, &cls[j]);
    int max_id = s->classes[s->nclasses - 1].id;
    double gt[6];
    cn_georef geo = cn_georef_of(s->lab, gt);
    cn_labelmap *tw = NULL, *vw = NULL;
    cn_status st = cn_labelmap_create(train_path, inputs, s->width, s->height, geo, max_id, cls,
                                      s->nclasses, NULL, &tw);
    if (!st)
        st = cn_labelmap_create(test_path, inputs, s->width, s->height, geo, max_id, cls,
                                s->nclasses, NULL, &vw);
    free(cls);
    if (!st)
        st = write_outputs(s, tw, vw);
    if (!st) {
        st = cn_labelmap_commit(tw);
        tw = NULL;
    }
    if (!st) {
        st = cn_labelmap_commit(vw);
        vw = NULL;
        /* the test file could not be finished or put in place: take the train file away too,
         * so that the pair stays consistent (an earlier train file there is lost; this needs a
         * disk that fills between two closes or a rename that fails) */
        if (st) {
            unlink(train_path);
            remove_sidecar(train_path);
        }
    }
    cn_labelmap_abort(tw);
    cn_labelmap_abort(vw);
    return st;
}

cn_status cn_split_labels(const char *labels_path, const char *train_path, const char *test_path,
                          const cn_split_options *options, cn_split_result *result)
{
    cn_split_ctx s;
    memset(&s, 0, sizeof s);
    if (result)
        memset(result, 0, sizeof *result);
    if (options)
        s.opt = *options;
    cn_status st = check_options(labels_path, train_path, test_path, &s.opt);
    if (!st)
        st = cn_labels_open(labels_path, &s.lab);
    if (!st) {
        s.path = labels_path;
        s.width = cn_raster_width(s.lab);
        s.height = cn_raster_height(s.lab);
    }
    size_t w = st ? 0 : (size_t)s.width, h = st ? 0 : (size_t)s.height;
    if (!st && w > (SIZE_MAX - 63) / h)
        st = cn_set_error(CN_EOVERFLOW, "%s: too large to split", labels_path);
    if (!st) {
        s.npasses = s.opt.block > 0 ? 4 : 3;
        s.strip_rows = cn_strip_rows(s.width, s.height, 3 * sizeof(int32_t) + sizeof(double));
        s.ids = malloc(w * (size_t)s.strip_rows * sizeof *s.ids);
        s.index = calloc(65536, sizeof *s.index);
        s.train_px = calloc((w * h + 63) / 64, sizeof *s.train_px);
        if (!s.ids || !s.index || !s.train_px)
            st = cn_set_error(CN_ENOMEM, "%s: out of memory (%zu x %zu pixels)", labels_path, w, h);
    }
    if (!st)
        st = count_classes(&s);
    for (size_t j = 0; !st && j < s.nclasses; j++)
        st = class_target(&s, j);
    if (!st && s.opt.block > 0)
        st = cn_split_blocks(&s);
    if (!st)
        st = assign(&s);
    if (!st)
        st = write_both(&s, train_path, test_path);
    if (!st && s.opt.progress)
        s.opt.progress(1.0, "split", s.opt.progress_data);
    if (!st && result) {
        result->classes = s.classes;
        result->nclasses = s.nclasses;
        s.classes = NULL;
        for (size_t j = 0; j < result->nclasses; j++) {
            result->train += result->classes[j].train;
            result->test += result->classes[j].test;
            result->dropped += result->classes[j].dropped;
        }
    }
    ctx_free(&s);
    return st;
}
