/*
 * synth_layout.c — where the synthetic scene's parcels lie, and the pixels they produce.
 *
 * The scene is a frame of nodata around farmland: blocks of rows separated by roads, each block cut
 * into columns of varying width by hedges and the odd farm road, each column cut into fields of
 * varying height by hedges. The layout lives in small per-row and per-column tables plus one
 * record per field (about one per 1800 pixels), so looking a pixel up is two table reads and a
 * short scan, and the image itself is never held.
 *
 * A pixel's value: its surface's soil and canopy spectra mixed by a vegetation cover (the class's
 * growth stage, shifted per field, tilted across the field, and wandering at low frequency), times
 * a per-field gain and a scene-wide illumination, plus a per-field offset, plus sensor noise drawn
 * from a counter-based hash of the pixel index and band: no generator state is carried between
 * pixels, so any window can be rendered alone and comes out identical.
 */
#include "synth_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Smooth noise in [-1, 1]: hashed values on a lattice of the given cell size, interpolated. */
static float value_noise(uint64_t key, int x, int y, int cell)
{
    int i = x / cell, j = y / cell;
    float fx = (float)(x % cell) / (float)cell, fy = (float)(y % cell) / (float)cell;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    float v[4];
    for (int k = 0; k < 4; k++) {
        uint64_t h = mix(key ^ ((uint64_t)(i + (k & 1)) * 0x9e3779b97f4a7c15ULL) ^
                         ((uint64_t)(j + (k >> 1)) * 0xc2b2ae3d27d4eb4fULL));
        v[k] = (float)(h >> 40) / 8388608.0f - 1.0f;
    }
    float top = v[0] + (v[1] - v[0]) * fx, bottom = v[2] + (v[3] - v[2]) * fx;
    return top + (bottom - top) * fy;
}

/* Cuts [from, to) into runs of length in [lo, hi], separated by gaps; marks each position of
 * table with the run's index, or -1 - surface for gap positions. Returns the number of runs;
 * first (may be NULL) gets each run's start. gap: width of the gap after a run and its surface,
 * drawn by the caller's rule through road_every (0: always a road). */
static int cut(cn_rng *rng, int32_t *table, int from, int to, int lo, int hi, int road_every,
               int32_t **first, int *cap)
{
    int n = 0;
    for (int p = from; p < to;) {
        int len = lo + (int)cn_rng_below(rng, (uint64_t)(hi - lo + 1));
        int end = p + len < to ? p + len : to;
        if (first) {
            if (n == *cap) {
                int ncap = *cap ? 2 * *cap : 64;
                int32_t *g = realloc(*first, (size_t)ncap * sizeof *g);
                if (!g)
                    return -1;
                *first = g;
                *cap = ncap;
            }
            (*first)[n] = p;
        }
        for (int q = p; q < end; q++)
            table[q] = n;
        n++;
        bool road = road_every == 0 || cn_rng_below(rng, (uint64_t)road_every) == 0;
        int gap = road ? 3 : 1;
        for (int q = end; q < end + gap && q < to; q++)
            table[q] = -1 - (road ? SURFACE_ROAD : SURFACE_HEDGE);
        p = end + gap;
    }
    return n;
}

cn_status synth_layout_build(const cn_synth_options *o, synth_layout *l)
{
    memset(l, 0, sizeof *l);
    l->width = o->width;
    l->height = o->height;
    l->bands = o->bands;
    l->seed = o->seed;
    int small = o->width < o->height ? o->width : o->height;
    l->border = small / 32 > 2 ? small / 32 : 2;
    l->col_of_x = malloc((size_t)o->width * sizeof *l->col_of_x);
    l->block_of_y = malloc((size_t)o->height * sizeof *l->block_of_y);
    if (!l->col_of_x || !l->block_of_y)
        goto nomem;
    for (int x = 0; x < o->width; x++)
        l->col_of_x[x] = SYNTH_BORDER;
    for (int y = 0; y < o->height; y++)
        l->block_of_y[y] = SYNTH_BORDER;
    cn_rng rng;
    cn_rng_seed(&rng, o->seed ^ 0x6669656c64730000ULL); /* "fields" */
    int cap = 0;
    l->ncols = cut(&rng, l->col_of_x, l->border, o->width - l->border, 24, 64, 5, &l->col_x0, &cap);
    l->nblocks =
        cut(&rng, l->block_of_y, l->border, o->height - l->border, 120, 240, 0, NULL, NULL);
    if (l->ncols < 0)
        goto nomem;
    /* fields: each (block, column) cell cut by hedges, rows recorded per field */
    size_t ncells = (size_t)l->nblocks * (size_t)l->ncols, fcap = ncells * 4 + 16;
    l->cell_first = malloc((ncells + 1) * sizeof *l->cell_first);
    l->fields = malloc(fcap * sizeof *l->fields);
    if (!l->cell_first || !l->fields)
        goto nomem;
    int y = l->border;
    for (int k = 0; k < l->nblocks; k++) {
        int y0 = y, y1 = y0;
        while (y1 < o->height - l->border && l->block_of_y[y1] == k)
            y1++;
        y = y1;
        while (y < o->height - l->border && l->block_of_y[y] < 0)
            y++;
        for (int c = 0; c < l->ncols; c++) {
            l->cell_first[(size_t)k * (size_t)l->ncols + (size_t)c] = (int32_t)l->nfields;
            for (int p = y0; p < y1;) {
                int end = p + 18 + (int)cn_rng_below(&rng, 39);
                end = end < y1 ? end : y1;
                if (l->nfields == fcap) {
                    synth_field *g = realloc(l->fields, 2 * fcap * sizeof *g);
                    if (!g)
                        goto nomem;
                    l->fields = g;
                    fcap *= 2;
                }
                int x0 = l->col_x0[c];
                int x1 = c + 1 < l->ncols ? l->col_x0[c + 1] : o->width - l->border;
                synth_field *f = &l->fields[l->nfields++];
                f->y0 = p;
                f->y1 = end;
                f->mode = (uint8_t)cn_rng_below(&rng, 2);
                f->gain = (float)(1.0 + 0.08 * cn_rng_normal(&rng));
                f->offset = (float)(80.0 * cn_rng_normal(&rng));
                f->cover = (float)(0.05 * cn_rng_normal(&rng));
                f->gx = (float)(0.0012 * cn_rng_normal(&rng));
                f->gy = (float)(0.0012 * cn_rng_normal(&rng));
                f->cx = 0.5f * (float)(x0 + x1);
                f->cy = 0.5f * (float)(p + end);
                p = end + 1; /* a hedge row between fields */
            }
        }
    }
    l->cell_first[ncells] = (int32_t)l->nfields;
    /* classes: a seeded shuffle of the fields dealt round-robin, so each class gets its share */
    size_t *order = malloc((l->nfields ? l->nfields : 1) * sizeof *order);
    if (!order)
        goto nomem;
    for (size_t i = 0; i < l->nfields; i++)
        order[i] = i;
    for (size_t i = l->nfields; i > 1; i--) {
        size_t j = (size_t)cn_rng_below(&rng, i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < l->nfields; i++)
        l->fields[order[i]].cls = (uint8_t)(i % (size_t)o->classes);
    free(order);
    return CN_OK;
nomem:
    synth_layout_free(l);
    return cn_set_error(CN_ENOMEM, "synth: out of memory for the field layout");
}

void synth_layout_free(synth_layout *l)
{
    free(l->col_of_x);
    free(l->block_of_y);
    free(l->col_x0);
    free(l->cell_first);
    free(l->fields);
    memset(l, 0, sizeof *l);
}

/* The field of column c, block k holding row y, or NULL (a hedge row). */
static const synth_field *field_at(const synth_layout *l, int k, int c, int y)
{
    size_t cell = (size_t)k * (size_t)l->ncols + (size_t)c;
    for (int32_t i = l->cell_first[cell]; i < l->cell_first[cell + 1]; i++)
        if (y >= l->fields[i].y0 && y < l->fields[i].y1)
            return &l->fields[i];
    return NULL;
}

void synth_render(const synth_layout *l, const synth_spectra *s, int x, int y, int w, int h,
                  int16_t *pixels, int32_t *labels)
{
    const int B = l->bands;
    const uint64_t illum_key = mix(l->seed ^ 0x696c6c756dULL); /* "illum", "cover", "noise" */
    const uint64_t cover_key = mix(l->seed ^ 0x636f766572ULL);
    const uint64_t noise_key = mix(l->seed ^ 0x6e6f697365ULL);
    for (int r = 0; r < h; r++) {
        int yy = y + r, k = l->block_of_y[yy];
        for (int q = 0; q < w; q++) {
            int xx = x + q, c = l->col_of_x[xx];
            int16_t *p = pixels + ((size_t)r * (size_t)w + (size_t)q) * (size_t)B;
            int32_t *lab = &labels[(size_t)r * (size_t)w + (size_t)q];
            if (k == SYNTH_BORDER || c == SYNTH_BORDER) {
                for (int b = 0; b < B; b++)
                    p[b] = CN_SYNTH_NODATA;
                *lab = 0;
                continue;
            }
            const synth_field *f = NULL;
            int surface = k < 0 ? -1 - k : c < 0 ? -1 - c : SURFACE_HEDGE;
            if (k >= 0 && c >= 0 && (f = field_at(l, k, c, yy)) != NULL)
                surface = SURFACE_CROPS + f->cls;
            int mode = f ? f->mode % s->modes[surface] : 0;
            const synth_surface *sf = &s->surface[surface][mode];
            float cover = sf->cover + 0.07f * value_noise(cover_key, xx, yy, 20);
            float gain = 1.0f + 0.05f * value_noise(illum_key, xx, yy, 96), offset = 0;
            if (f) {
                cover += f->cover + f->gx * ((float)xx - f->cx) + f->gy * ((float)yy - f->cy);
                gain *= f->gain;
                offset = f->offset;
            }
            cover = cover < 0 ? 0 : cover > 1 ? 1 : cover;
            *lab = f ? f->cls + 1 : 0;
            uint64_t z = mix(noise_key ^ ((uint64_t)yy * (uint64_t)l->width + (uint64_t)xx));
            for (int b = 0; b < B; b++) {
                float v = gain * (sf->soil[b] + cover * sf->diff[b]) + offset;
                z += 0x9e3779b97f4a7c15ULL;
                uint64_t u = mix(z);
                /* Irwin-Hall: four 16-bit uniforms summed, centred and scaled to unit variance */
                float g = ((float)((u & 0xffff) + ((u >> 16) & 0xffff) + ((u >> 32) & 0xffff) +
                                   (u >> 48)) * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
                v += (25.0f + 0.015f * v) * s->noise_gain[b] * g;
                v = v < -9998.0f ? -9998.0f : v > 32767.0f ? 32767.0f : v;
                p[b] = (int16_t)lrintf(v);
            }
        }
    }
}
