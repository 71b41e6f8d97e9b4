/*
 * synth_impl.h — the pieces of the synthetic field scene (internal): class spectra
 * (synth_spectra.c), the parcel layout and the per-pixel generator (synth_layout.c), shared with the
 * writer (synth.c).
 *
 * Everything random is a pure function of (seed, position): the layout comes from a seeded
 * generator run once, and the pixel noise from a counter-based hash of the pixel's index, so a
 * tile comes out the same whichever thread makes it and in whatever order.
 */
#ifndef CROPNET_SYNTH_IMPL_H
#define CROPNET_SYNTH_IMPL_H

#include "cropnet.h"

#define SYNTH_TILE 256

/* Surfaces that are not crops: unlabelled in the label map. */
enum { SURFACE_ROAD = 0, SURFACE_HEDGE = 1, SURFACE_CROPS = 2 }; /* crops: 2 + class index */

/* A class's spectra in one growth stage ("mode"), reflectance x 10000 per band, already multiplied
 * by the atmosphere's transmission: a pixel of vegetation cover f reads soil + f * (veg - soil). */
typedef struct synth_surface {
    float *soil;  /* bands values */
    float *diff;  /* veg - soil, bands values */
    float cover;  /* typical vegetation cover of this stage, 0..1 */
} synth_surface;

typedef struct synth_spectra {
    int bands, classes;
    float *noise_gain;   /* per band: noise grows where the atmosphere absorbs */
    int *modes;          /* per surface (SURFACE_CROPS + classes): 1 or 2 growth stages */
    synth_surface (*surface)[2]; /* [surface][mode] */
    float *store;        /* one allocation behind the band arrays */
} synth_spectra;

/* Builds the spectra of every surface for the given band count and number of classes.
 * Errors: CN_ENOMEM. */
cn_status synth_spectra_build(int bands, int classes, synth_spectra *s);
void synth_spectra_free(synth_spectra *s);

/* One parcel: where it is, what it grows and how it deviates from its class. */
typedef struct synth_field {
    int32_t y0, y1;       /* rows [y0, y1) within its column and block */
    uint8_t cls;          /* class index, 0-based */
    uint8_t mode;         /* growth stage */
    float gain, offset;   /* brightness x gain + offset (x 10000 units) */
    float cover;          /* vegetation cover shift */
    float gx, gy;         /* cover gradient per pixel from the field's centre */
    float cx, cy;         /* centre */
} synth_field;

/* The parcel layout: columns of fields split by hedges, blocks split by roads, a nodata frame. */
typedef struct synth_layout {
    int width, height, bands, border;
    uint64_t seed;
    int ncols, nblocks;
    int32_t *col_of_x;    /* per x: column index, or -1 - surface (road / hedge) / -100 border */
    int32_t *block_of_y;  /* per y: block index, or -1 - surface / -100 border */
    int32_t *col_x0;      /* per column: first x */
    int32_t *cell_first;  /* per (block, column): index of its first field; one extra at the end */
    synth_field *fields;
    size_t nfields;
} synth_layout;

#define SYNTH_BORDER (-100)

/* Lays out the parcels and draws each one's class and deviations. Errors: CN_ENOMEM. */
cn_status synth_layout_build(const cn_synth_options *o, synth_layout *l);
void synth_layout_free(synth_layout *l);

/* Generates the window (x, y, w, h): pixels (h*w*bands int16, pixel-interleaved) and labels (h*w
 * class ids, 0 for roads, hedges and border). Pure: depends only on the layout, spectra and
 * window. */
void synth_render(const synth_layout *l, const synth_spectra *s, int x, int y, int w, int h,
                  int16_t *pixels, int32_t *labels);

#endif
