/*
 * benchmarks.c — the class tables of the classic hyperspectral benchmarks, and how a scene,
 * variable or file name is recognised as one of them.
 *
 * Names are spelled as the benchmarks' distributors (the Grupo de Inteligencia Computacional,
 * UPV/EHU) spell them, "Brocoli" and "Vinyard" included, so maps read the same as the
 * literature's tables. Colours are chosen per class to hint at what it is (greens for crops, browns
 * for soils, blue for water) while staying distinct within a benchmark. SalinasA keeps the full
 * Salinas ids, so both use the Salinas table.
 */
#include "cropnet.h"

#include <ctype.h>
#include <string.h>

static const cn_benchmark_class salinas[] = {
    {1, "Brocoli_green_weeds_1", {0x2e, 0x7d, 0x32}},
    {2, "Brocoli_green_weeds_2", {0x9c, 0xcc, 0x65}},
    {3, "Fallow", {0xa1, 0x88, 0x7f}},
    {4, "Fallow_rough_plow", {0x6d, 0x4c, 0x41}},
    {5, "Fallow_smooth", {0xe0, 0xd0, 0xb0}},
    {6, "Stubble", {0xfd, 0xd8, 0x35}},
    {7, "Celery", {0x00, 0xe6, 0x76}},
    {8, "Grapes_untrained", {0x8e, 0x24, 0xaa}},
    {9, "Soil_vinyard_develop", {0xff, 0x70, 0x43}},
    {10, "Corn_senesced_green_weeds", {0xff, 0xb3, 0x00}},
    {11, "Lettuce_romaine_4wk", {0xc6, 0xff, 0x00}},
    {12, "Lettuce_romaine_5wk", {0x00, 0xbf, 0xa5}},
    {13, "Lettuce_romaine_6wk", {0x00, 0x83, 0x8f}},
    {14, "Lettuce_romaine_7wk", {0x1e, 0x88, 0xe5}},
    {15, "Vinyard_untrained", {0xd8, 0x1b, 0x60}},
    {16, "Vinyard_vertical_trellis", {0xf4, 0x8f, 0xb1}},
};

static const cn_benchmark_class pavia_centre[] = {
    {1, "Water", {0x1e, 0x88, 0xe5}},
    {2, "Trees", {0x2e, 0x7d, 0x32}},
    {3, "Asphalt", {0x75, 0x75, 0x75}},
    {4, "Self-Blocking Bricks", {0xd8, 0x43, 0x15}},
    {5, "Bitumen", {0x21, 0x21, 0x21}},
    {6, "Tiles", {0xff, 0x8a, 0x65}},
    {7, "Shadows", {0x5e, 0x35, 0xb1}},
    {8, "Meadows", {0x9c, 0xcc, 0x65}},
    {9, "Bare Soil", {0xa1, 0x88, 0x7f}},
};

static const cn_benchmark_class pavia_university[] = {
    {1, "Asphalt", {0x75, 0x75, 0x75}},
    {2, "Meadows", {0x9c, 0xcc, 0x65}},
    {3, "Gravel", {0xe0, 0xd0, 0xb0}},
    {4, "Trees", {0x2e, 0x7d, 0x32}},
    {5, "Painted metal sheets", {0x00, 0xac, 0xc1}},
    {6, "Bare Soil", {0xa1, 0x88, 0x7f}},
    {7, "Bitumen", {0x21, 0x21, 0x21}},
    {8, "Self-Blocking Bricks", {0xd8, 0x43, 0x15}},
    {9, "Shadows", {0x5e, 0x35, 0xb1}},
};

static const cn_benchmark_class indian_pines[] = {
    {1, "Alfalfa", {0xf0, 0x62, 0x92}},
    {2, "Corn-notill", {0xff, 0xb3, 0x00}},
    {3, "Corn-mintill", {0xff, 0xe0, 0x82}},
    {4, "Corn", {0xf5, 0x7f, 0x17}},
    {5, "Grass-pasture", {0x9c, 0xcc, 0x65}},
    {6, "Grass-trees", {0x33, 0x69, 0x1e}},
    {7, "Grass-pasture-mowed", {0xc6, 0xff, 0x00}},
    {8, "Hay-windrowed", {0xe0, 0xd0, 0xb0}},
    {9, "Oats", {0xa1, 0x88, 0x7f}},
    {10, "Soybean-notill", {0x00, 0xbf, 0xa5}},
    {11, "Soybean-mintill", {0x00, 0x83, 0x8f}},
    {12, "Soybean-clean", {0x80, 0xde, 0xea}},
    {13, "Wheat", {0xfd, 0xd8, 0x35}},
    {14, "Woods", {0x1b, 0x5e, 0x20}},
    {15, "Buildings-Grass-Trees-Drives", {0x8e, 0x24, 0xaa}},
    {16, "Stone-Steel-Towers", {0x75, 0x75, 0x75}},
};

#define TABLE(a) (sizeof(a) / sizeof((a)[0])), (a)

static const cn_benchmark benchmarks[] = {
    {"salinas", "Salinas (AVIRIS, Salinas Valley)", TABLE(salinas)},
    {"pavia_centre", "Pavia Centre (ROSIS)", TABLE(pavia_centre)},
    {"pavia_university", "Pavia University (ROSIS)", TABLE(pavia_university)},
    {"indian_pines", "Indian Pines (AVIRIS)", TABLE(indian_pines)},
};

/* Every spelling a scene goes by, after normalisation (lower case, no folder, extension or
 * _gt/_corrected suffix), and the table it means. */
static const struct {
    const char *alias;
    size_t index;
} aliases[] = {
    {"salinas", 0},          {"salinasa", 0},          {"pavia_centre", 1},
    {"pavia", 1},            {"paviac", 1},            {"pavia_center", 1},
    {"pavia_university", 2}, {"paviau", 2},            {"indian_pines", 3},
    {"indianpines", 3},      {"indian_pine", 3},
};

/* Lower-cases the last path component of name into buf, without ".mat" and without a trailing
 * "_gt" or "_corrected" (either order, once each). */
static void normalise(const char *name, char *buf, size_t size)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t n = 0;
    for (; base[n] && n + 1 < size; n++)
        buf[n] = (char)tolower((unsigned char)base[n]);
    buf[n] = '\0';
    static const char *const suffixes[] = {".mat", "_gt", "_corrected", "_gt"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(buf + n - k, suffixes[i]) == 0)
            buf[n -= k] = '\0';
    }
}

const cn_benchmark *cn_benchmark_find(const char *name)
{
    if (!name)
        return NULL;
    char buf[64];
    normalise(name, buf, sizeof buf);
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(buf, aliases[i].alias) == 0)
            return &benchmarks[aliases[i].index];
    return NULL;
}

const cn_benchmark *cn_benchmark_at(size_t i)
{
    return i < sizeof benchmarks / sizeof benchmarks[0] ? &benchmarks[i] : NULL;
}
