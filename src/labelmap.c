/*
 * labelmap.c — crop maps: one band of class ids (Byte, or UInt16 past 255), nodata 0, with the
 * classes' colour table and category names, on top of the atomic GeoTIFF writer.
 *
 * The colour table lives in the TIFF; GDAL writes the category names to the PAM sidecar
 * MAP.tif.aux.xml, which the writer commits together with the map. Ids are checked against the
 * map's largest id before GDAL sees them, since GDAL would clamp them silently.
 */
#include "raster_impl.h"

#include <cpl_string.h>
#include <stdlib.h>
#include <string.h>

struct cn_labelmap {
    cn_raster_writer *w; /* the one-band GeoTIFF being written */
    int max_id;          /* largest id the map accepts */
    int width;           /* for positions in messages */
    char *path;          /* owned, for messages */
};

/* Colour table and category names for ids 0..max_id. */
static cn_status describe(const char *path, GDALRasterBandH band, int max_id,
                          const cn_class_info *classes, size_t nclasses)
{
    GDALColorTableH ct = GDALCreateColorTable(GPI_RGB);
    char **names = calloc((size_t)max_id + 2, sizeof *names);
    cn_status st = CN_OK;
    if (!ct || !names) {
        st = cn_set_error(CN_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    const GDALColorEntry none = {0, 0, 0, 0};
    for (int i = 0; i <= max_id; i++) {
        GDALSetColorEntry(ct, i, &none);
        names[i] = (char *)(i == 0 ? "unclassified" : "");
    }
    for (size_t k = 0; k < nclasses; k++) {
        const cn_class_info *c = &classes[k];
        GDALColorEntry e = {c->rgb[0], c->rgb[1], c->rgb[2], 255};
        GDALSetColorEntry(ct, c->id, &e);
        names[c->id] = (char *)c->name;
    }
    CPLErrorReset();
    if (GDALSetRasterColorTable(band, ct) != CE_None ||
        GDALSetRasterCategoryNames(band, names) != CE_None ||
        GDALSetRasterColorInterpretation(band, GCI_PaletteIndex) != CE_None)
        st = cn_gdal_fail(CN_EIO, path, "cannot set the colour table and class names");
done:
    if (ct)
        GDALDestroyColorTable(ct);
    free(names);
    return st;
}

cn_status cn_labelmap_create(const char *path, const char *const *inputs, int width, int height,
                             cn_georef georef, int max_id, const cn_class_info *classes,
                             size_t nclasses, const char *const *creation_options,
                             cn_labelmap **out)
{
    if (!path || !out || (nclasses && !classes))
        return cn_set_error(CN_EINVAL, "label map: NULL argument");
    *out = NULL;
    if (max_id < 1 || max_id > CN_CLASS_ID_MAX)
        return cn_set_error(CN_EINVAL, "%s: largest class id %d is not in 1..%d", path, max_id,
                            CN_CLASS_ID_MAX);
    for (size_t k = 0; k < nclasses; k++)
        if (classes[k].id < 1 || classes[k].id > max_id ||
            !memchr(classes[k].name, '\0', CN_CLASS_NAME_MAX))
            return cn_set_error(CN_EINVAL, "%s: class %zu: id %d not in 1..%d (or its name is not "
                                "terminated)", path, k + 1, classes[k].id, max_id);
    cn_labelmap *lm = calloc(1, sizeof *lm);
    if (!lm || !(lm->path = strdup(path))) {
        free(lm);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    }
    lm->max_id = max_id;
    lm->width = width;
    cn_sample_type type = max_id <= 255 ? CN_SAMPLE_BYTE : CN_SAMPLE_UINT16;
    cn_status st = cn_raster_writer_create(path, inputs, width, height, 1, type, georef,
                                           creation_options, &lm->w);
    if (!st)
        st = cn_raster_writer_set_nodata(lm->w, 1, 0);
    if (!st)
        st = describe(path, cn_raster_writer_band(lm->w, 1), max_id, classes, nclasses);
    if (st) {
        cn_labelmap_abort(lm);
        return st;
    }
    *out = lm;
    return CN_OK;
}

cn_status cn_labelmap_write(cn_labelmap *lm, int x, int y, int w, int h, const int32_t *ids)
{
    if (w < 1 || h < 1)
        return cn_raster_writer_write_int(lm->w, x, y, w, h, ids); /* reports the window */
    size_t n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] > lm->max_id)
            return cn_set_error(CN_EINVAL, "%s: class id %d at pixel (%d, %d) is not in 0..%d",
                                lm->path, (int)ids[i], x + (int)(i % (size_t)w),
                                y + (int)(i / (size_t)w), lm->max_id);
    return cn_raster_writer_write_int(lm->w, x, y, w, h, ids);
}

cn_status cn_labelmap_set_metadata(cn_labelmap *lm, const char *key, const char *value)
{
    GDALRasterBandH band = cn_raster_writer_band(lm->w, 1);
    if (!band || !key || !*key || !value)
        return cn_set_error(CN_EINVAL, "%s: bad metadata item", lm->path);
    CPLErrorReset();
    if (GDALSetMetadataItem(GDALGetBandDataset(band), key, value, NULL) != CE_None)
        return cn_gdal_fail(CN_EIO, lm->path, "cannot set metadata");
    return CN_OK;
}

cn_status cn_labelmap_commit(cn_labelmap *lm)
{
    cn_status st = cn_raster_writer_commit(lm->w);
    free(lm->path);
    free(lm);
    return st;
}

void cn_labelmap_abort(cn_labelmap *lm)
{
    if (!lm)
        return;
    cn_raster_writer_abort(lm->w);
    free(lm->path);
    free(lm);
}
