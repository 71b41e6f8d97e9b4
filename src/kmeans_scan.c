/*
 * kmeans_scan.c — the walk over a scene that k-means' raster passes share (sampling, streamed
 * mini-batch, labelling): tile after tile in the tile plan of cn_classify, every band read as
 * float32 with its validity mask, the valid pixels moved to the front; and the passes' progress
 * and messages.
 */
#include "kmeans_impl.h"

#include <stdlib.h>
#include <string.h>

cn_status kscan_begin(kscan *s, cn_raster *img, const cn_cluster_options *o)
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
cn_status kscan_next(kscan *s, bool *more)
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
int64_t kscan_compact(kscan *s)
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

void kscan_end(kscan *s)
{
    free(s->pixels);
    free(s->valid);
    s->pixels = NULL;
    s->valid = NULL;
}

bool kscan_progress(const cn_cluster_options *o, double f, const char *stage)
{
    return !o->kmeans.progress || o->kmeans.progress(f, stage, o->kmeans.progress_data) != 0;
}

cn_status kscan_cancelled(const cn_raster *img)
{
    return cn_set_error(CN_ECANCELLED, "%s: cancelled", cn_raster_path(img));
}

cn_status kscan_no_valid_pixel(const cn_raster *img)
{
    return cn_set_error(CN_EINVAL, "%s: has no valid pixel (every pixel is nodata, NaN or "
                        "infinite)", cn_raster_path(img));
}
