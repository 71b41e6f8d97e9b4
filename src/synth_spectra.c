/*
 * synth_spectra.c — the synthetic scene's surfaces: crop classes, roads and hedges, as smooth
 * reflectance spectra over 400-2500 nm.
 *
 * A crop pixel mixes a canopy spectrum and its soil by the vegetation cover. The canopy is green
 * vegetation (low visible reflectance with a green peak, a sigmoid red edge up to a near-infrared
 * plateau, leaf-water absorption at 970, 1200, 1450 and 1940 nm, a falling short-wave infrared)
 * blended with dry residue (a slow rise with no red edge, a cellulose dip near 2100 nm); soils rise
 * slowly across the range with moisture dips. Everything is seen through an atmosphere whose water
 * vapour darkens and adds noise to the 1400 and 1900 nm bands, as in uncorrected AVIRIS scenes.
 *
 * Classes are fixed by their id, not by the seed, so a model trained on one seed's scene applies
 * to another's, as to a new season: new fields, new deviations, lower accuracy (0.71 overall for
 * the default MLP, against 0.97 on its own scene). Two of the first six are built to need a non-linear classifier: Lettuce comes in two
 * growth stages (sparse young plants and a full canopy) of the very plant that Grapes shows at
 * the cover between them, so along the mixing line Grapes sits inside Lettuce's range.
 */
#include "synth_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct crop {
    const char *name;
    uint8_t rgb[3];
    float cover[2];  /* vegetation cover per growth stage; cover[1] < 0: one stage */
    float nir;       /* near-infrared plateau */
    float edge;      /* red-edge inflection, nm */
    float green;     /* green-peak height */
    float water;     /* leaf-water absorption depth, 0..1 */
    float dry;       /* share of dry residue in the canopy */
    float soil;      /* soil brightness at 2200 nm */
    float moist;     /* soil moisture, 0..1 */
} crop;

static const crop crops[] = {
    {"Broccoli", {0x2e, 0x7d, 0x32}, {0.72f, -1}, 0.43f, 719, 0.055f, 0.65f, 0.00f, 0.22f, 0.32f},
    {"Celery", {0x00, 0xe6, 0x76}, {0.78f, -1}, 0.46f, 722, 0.060f, 0.70f, 0.00f, 0.22f, 0.40f},
    {"Fallow", {0xa1, 0x88, 0x7f}, {0.06f, -1}, 0.30f, 715, 0.040f, 0.30f, 0.60f, 0.31f, 0.15f},
    {"Grapes", {0x8e, 0x24, 0xaa}, {0.57f, -1}, 0.42f, 720, 0.055f, 0.60f, 0.05f, 0.24f, 0.25f},
    {"Lettuce", {0xc6, 0xff, 0x00}, {0.28f, 0.88f}, 0.42f, 720, 0.055f, 0.60f, 0.05f, 0.24f, 0.25f},
    {"Vineyard", {0xd8, 0x1b, 0x60}, {0.40f, -1}, 0.36f, 712, 0.045f, 0.50f, 0.25f, 0.26f, 0.20f},
    {"Corn", {0xff, 0xb3, 0x00}, {0.75f, -1}, 0.50f, 726, 0.065f, 0.65f, 0.10f, 0.20f, 0.30f},
    {"Stubble", {0xfd, 0xd8, 0x35}, {0.30f, -1}, 0.30f, 712, 0.030f, 0.20f, 0.90f, 0.27f, 0.10f},
    {"Alfalfa", {0x9c, 0xcc, 0x65}, {0.90f, -1}, 0.52f, 724, 0.070f, 0.75f, 0.00f, 0.20f, 0.35f},
    {"Wheat", {0xe0, 0xd0, 0xb0}, {0.60f, -1}, 0.34f, 714, 0.040f, 0.40f, 0.45f, 0.25f, 0.15f},
    {"Tomato", {0xf4, 0x43, 0x36}, {0.50f, -1}, 0.44f, 719, 0.050f, 0.65f, 0.05f, 0.19f, 0.45f},
    {"Strawberry", {0xf0, 0x62, 0x92}, {0.35f, -1}, 0.38f, 716, 0.045f, 0.55f, 0.00f, 0.16f, 0.50f},
    {"Artichoke", {0x00, 0x83, 0x8f}, {0.65f, -1}, 0.37f, 718, 0.040f, 0.55f, 0.10f, 0.23f, 0.30f},
    {"Spinach", {0x1b, 0x5e, 0x20}, {0.85f, -1}, 0.48f, 721, 0.075f, 0.80f, 0.00f, 0.21f, 0.40f},
    {"Cotton", {0xff, 0xff, 0xff}, {0.45f, -1}, 0.41f, 716, 0.050f, 0.45f, 0.20f, 0.29f, 0.10f},
    {"Rice", {0x1e, 0x88, 0xe5}, {0.70f, -1}, 0.35f, 719, 0.060f, 0.85f, 0.00f, 0.10f, 0.95f},
};
#define NCROPS ((int)(sizeof crops / sizeof crops[0]))

/* SplitMix64's finaliser: the parameters of classes past the named ones. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float unit(uint64_t key, int k)
{
    return (float)(mix(key * 31 + (uint64_t)k) >> 40) / 16777216.0f;
}

static crop crop_of(int index)
{
    if (index < NCROPS)
        return crops[index];
    uint64_t key = 0x5eed0000ULL + (uint64_t)index;
    crop c = {NULL, {0, 0, 0}, {0.15f + 0.8f * unit(key, 0), -1}, 0.30f + 0.25f * unit(key, 1),
              708 + 20 * unit(key, 2), 0.03f + 0.05f * unit(key, 3), 0.2f + 0.7f * unit(key, 4),
              0.7f * unit(key, 5) * unit(key, 5), 0.12f + 0.2f * unit(key, 6), unit(key, 7)};
    return c;
}

const char *cn_synth_class_name(int id)
{
    static _Thread_local char buf[24];
    if (id >= 1 && id <= NCROPS)
        return crops[id - 1].name;
    snprintf(buf, sizeof buf, "Crop_%d", id);
    return buf;
}

void cn_synth_class_rgb(int id, uint8_t rgb[3])
{
    if (id >= 1 && id <= NCROPS)
        memcpy(rgb, crops[id - 1].rgb, 3);
    else
        cn_class_default_rgb(id, rgb);
}

static double gauss(double x, double mu, double sd)
{
    return exp(-0.5 * (x - mu) * (x - mu) / (sd * sd));
}
static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double smooth(double a, double b, double x)
{
    double t = x <= a ? 0 : x >= b ? 1 : (x - a) / (b - a);
    return t * t * (3 - 2 * t);
}

/* Leaf water: the 970, 1200, 1450 and 1940 nm absorptions, scaled by depth (0..1). */
static double leaf_water(double l, double depth)
{
    double a = 0.08 * gauss(l, 970, 30) + 0.12 * gauss(l, 1200, 40) + 0.45 * gauss(l, 1450, 70) +
               0.6 * gauss(l, 1940, 90) + 0.25 * smooth(2300, 2500, l);
    return 1.0 - depth * a;
}

static double green_canopy(const crop *c, double l)
{
    double vis = 0.03 + c->green * gauss(l, 550, 35) - 0.01 * gauss(l, 670, 20);
    double nir = c->nir * (1.0 - 0.45 * smooth(1150, 2500, l));
    return (vis + (nir - vis) * sigmoid((l - c->edge) / 14.0)) * leaf_water(l, c->water);
}

static double dry_canopy(double l)
{
    double r = 0.08 + 0.30 * smooth(400, 1300, l) - 0.06 * smooth(1700, 2500, l);
    return r * (1.0 - 0.12 * gauss(l, 2100, 60) - 0.1 * gauss(l, 1450, 60) -
                0.1 * gauss(l, 1940, 70));
}

static double soil(double brightness, double moisture, double l)
{
    double r = brightness * (0.35 + 0.65 * smooth(400, 2200, l)) + 0.03 * sigmoid((l - 560) / 40);
    return r * (1.0 - moisture * (0.25 * gauss(l, 1450, 60) + 0.35 * gauss(l, 1940, 80) +
                                  0.1 * gauss(l, 2200, 40)));
}

/* Atmospheric water vapour: transmission (1 = clear) at wavelength l. */
static double vapour(double l)
{
    return 0.15 * gauss(l, 940, 25) + 0.1 * gauss(l, 1130, 30) + 0.85 * gauss(l, 1390, 45) +
           0.9 * gauss(l, 1880, 60);
}

cn_status synth_spectra_build(int bands, int classes, synth_spectra *s)
{
    memset(s, 0, sizeof *s);
    int nsurf = SURFACE_CROPS + classes;
    size_t per = (size_t)bands;
    s->bands = bands;
    s->classes = classes;
    s->store = malloc(per * sizeof(float) * (1 + 4 * (size_t)nsurf));
    s->modes = calloc((size_t)nsurf, sizeof *s->modes);
    s->surface = calloc((size_t)nsurf, sizeof *s->surface);
    if (!s->store || !s->modes || !s->surface) {
        synth_spectra_free(s);
        return cn_set_error(CN_ENOMEM, "synth: out of memory for %d bands", bands);
    }
    s->noise_gain = s->store;
    float *next = s->store + per;
    for (int k = 0; k < nsurf; k++)
        for (int m = 0; m < 2; m++) {
            s->surface[k][m].soil = next;
            s->surface[k][m].diff = next + per;
            next += 2 * per;
        }
    for (int b = 0; b < bands; b++) {
        double l = 400.0 + 2100.0 * (b + 0.5) / bands;
        double t = 1.0 - vapour(l);
        s->noise_gain[b] = (float)(1.0 + 3.0 * vapour(l));
        /* roads: asphalt, dark and flat with a slow rise; hedges: dense green shrubs */
        double asphalt = 0.07 + 0.06 * smooth(400, 2400, l);
        crop hedge = {NULL, {0, 0, 0}, {0.95f, -1}, 0.38f, 710, 0.04f, 0.8f, 0.15f, 0.2f, 0.3f};
        s->surface[SURFACE_ROAD][0].soil[b] = (float)(1e4 * t * asphalt);
        s->surface[SURFACE_ROAD][0].diff[b] = 0;
        double hv = 0.85 * green_canopy(&hedge, l) + 0.15 * dry_canopy(l);
        double hs = soil(0.2, 0.3, l);
        s->surface[SURFACE_HEDGE][0].soil[b] = (float)(1e4 * t * hs);
        s->surface[SURFACE_HEDGE][0].diff[b] = (float)(1e4 * t * (hv - hs));
        for (int k = 0; k < classes; k++) {
            crop c = crop_of(k);
            double canopy = (1 - c.dry) * green_canopy(&c, l) + c.dry * dry_canopy(l);
            double ground = soil(c.soil, c.moist, l);
            for (int m = 0; m < 2; m++) {
                synth_surface *sf = &s->surface[SURFACE_CROPS + k][m];
                sf->soil[b] = (float)(1e4 * t * ground);
                sf->diff[b] = (float)(1e4 * t * (canopy - ground));
            }
        }
    }
    s->modes[SURFACE_ROAD] = s->modes[SURFACE_HEDGE] = 1;
    s->surface[SURFACE_ROAD][0].cover = 0;
    s->surface[SURFACE_HEDGE][0].cover = 0.95f;
    for (int k = 0; k < classes; k++) {
        crop c = crop_of(k);
        s->modes[SURFACE_CROPS + k] = c.cover[1] < 0 ? 1 : 2;
        for (int m = 0; m < 2; m++)
            s->surface[SURFACE_CROPS + k][m].cover =
                c.cover[m < s->modes[SURFACE_CROPS + k] ? m : 0];
    }
    return CN_OK;
}

void synth_spectra_free(synth_spectra *s)
{
    free(s->store);
    free(s->modes);
    free(s->surface);
    memset(s, 0, sizeof *s);
}
