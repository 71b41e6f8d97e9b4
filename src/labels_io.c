/*
 * labels_io.c — label rasters for samples, split, metrics and vector labels, on top of
 * cn_raster: the one-band check, the classes a raster names and colours, the grid check with the
 * data commands' messages, and the strip size that bounds their memory.
 */
#include "cn_labels.h"
#include "raster_impl.h"

#include <cpl_string.h>

cn_status cn_labels_open(const char *path, cn_raster **out)
{
    cn_status st = cn_raster_open(path, out);
    if (st)
        return st;
    int bands = cn_raster_bands(*out);
    if (bands != 1) {
        cn_raster_close(*out);
        *out = NULL;
        return cn_set_error(CN_EINVAL, "%s: has %d bands; a label raster has one", path, bands);
    }
    return CN_OK;
}

bool cn_labels_class(const cn_raster *r, int id, cn_class_info *c)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    cn_class_default_rgb(id, c->rgb);
    GDALRasterBandH band = r->bands[0].h;
    bool known = false;
    char **names = GDALGetRasterCategoryNames(band);
    if (names && CSLCount(names) > id && names[id] && names[id][0]) {
        snprintf(c->name, sizeof c->name, "%s", names[id]);
        known = true;
    }
    GDALColorTableH ct = GDALGetRasterColorTable(band);
    const GDALColorEntry *e = ct && GDALGetColorEntryCount(ct) > id ? GDALGetColorEntry(ct, id) : NULL;
    if (e) {
        c->rgb[0] = (uint8_t)e->c1;
        c->rgb[1] = (uint8_t)e->c2;
        c->rgb[2] = (uint8_t)e->c3;
        known = true;
    }
    return known;
}

cn_status cn_grid_check(const cn_raster *a, const char *role, const cn_raster *b)
{
    const char *ap = cn_raster_path(a), *bp = cn_raster_path(b);
    if (cn_raster_width(a) != cn_raster_width(b) || cn_raster_height(a) != cn_raster_height(b))
        return cn_set_error(CN_EINVAL, "%s: is %d x %d, %s %s is %d x %d", bp, cn_raster_width(b),
                            cn_raster_height(b), role, ap, cn_raster_width(a), cn_raster_height(a));
    if (!cn_raster_same_grid(a, b))
        return CN_OK;
    /* "B: its geotransform ... differs from A's ..." → "B: different georeference from ROLE
     * A: its geotransform ..." */
    char detail[1024], prefix[512];
    snprintf(detail, sizeof detail, "%s", cn_last_error());
    snprintf(prefix, sizeof prefix, "%s: ", bp);
    const char *rest = strncmp(detail, prefix, strlen(prefix)) == 0 ? detail + strlen(prefix) : detail;
    return cn_set_error(CN_EINVAL, "%s: different georeference from %s %s: %s", bp, role, ap, rest);
}

cn_georef cn_georef_of(const cn_raster *a, double gt[6])
{
    bool has = cn_raster_geotransform(a, gt);
    cn_georef g = {has ? gt : NULL, cn_raster_wkt(a)};
    return g;
}

cn_status cn_labels_read_rows(cn_raster *r, int y, int h, int32_t *ids)
{
    return cn_raster_read_labels(r, 0, y, cn_raster_width(r), h, ids);
}

#define STRIP_BUDGET ((size_t)8 << 20)
static size_t strip_budget = STRIP_BUDGET;

void cn_strip_budget_set(size_t bytes) { strip_budget = bytes ? bytes : STRIP_BUDGET; }

int cn_strip_rows(int width, int height, size_t bytes_per_pixel)
{
    size_t row = (size_t)width * (bytes_per_pixel ? bytes_per_pixel : 1);
    size_t rows = strip_budget / row;
    if (rows < 1)
        rows = 1;
    return rows < (size_t)height ? (int)rows : height;
}
