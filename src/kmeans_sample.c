/*
 * kmeans_sample.c — the pixels a scene is fitted on: a uniform sample without replacement of its
 * valid pixels, drawn in one pass over the scene.
 *
 * Every valid pixel gets a pseudo-random key hashed from the seed and its position, and the
 * pixels of the smallest keys are kept (a bounded max-heap). That is a uniform sample found
 * without knowing the number of valid pixels beforehand, independent of the tile size (so is the
 * fit), in memory the sample plus one tile; it is returned in scene order.
 */
#include "kmeans_impl.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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
cn_status kmeans_sample(cn_raster *img, const cn_cluster_options *o, int64_t cap, float **pixels,
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
    kscan s;
    cn_status st = kscan_begin(&s, img, o);
    bool more = true;
    int64_t n = 0, kept = 0;
    while (!st && (st = kscan_next(&s, &more)) == CN_OK && more) {
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
        if (!kscan_progress(o, (double)s.done / (double)s.tiles, "sampling"))
            st = kscan_cancelled(img);
    }
    kscan_end(&s);
    if (!st && n == 0)
        st = kscan_no_valid_pixel(img);
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
    return kmeans_sample(image, o, cap, pixels, count, &seen);
}
