/*
 * cn_labels.h — what the data and metrics files share (internal): label rasters opened and read
 * through cn_raster, the classes a label raster describes, the grid check with the messages the
 * data commands give, and the row-strip size.
 */
#ifndef CROPNET_LABELS_H
#define CROPNET_LABELS_H

#include "cn_gdal.h"
#include "cropnet.h"

/* Opens path as a label raster (cn_raster_open), refusing more than one band ("PATH: has 3
 * bands; a label raster has one", CN_EINVAL). Read it with cn_raster_read_labels. */
cn_status cn_labels_open(const char *path, cn_raster **out);

/* Class id as the label raster describes it: its category name, its colour-table entry (else
 * cn_class_default_rgb). Returns whether the raster had a name or a colour for it. */
bool cn_labels_class(const cn_raster *r, int id, cn_class_info *c);

/* CN_OK when b lies on a's grid (cn_raster_same_grid). Otherwise CN_EINVAL with
 * "B: is 86 x 83, ROLE A is 90 x 83" or "B: different georeference from ROLE A: <detail>"
 * (role: "the image", "the reference"). */
cn_status cn_grid_check(const cn_raster *a, const char *role, const cn_raster *b);

/* a's georeference for a new raster on its grid; gt is the storage for the geotransform. */
cn_georef cn_georef_of(const cn_raster *a, double gt[6]);

/* Full-width rows y..y+h-1 of a label raster (cn_raster_read_labels). */
cn_status cn_labels_read_rows(cn_raster *r, int y, int h, int32_t *ids);

/* Rows per strip so that a strip of width pixels at bytes_per_pixel stays near 8 MiB (at least
 * one row, at most height). */
int cn_strip_rows(int width, int height, size_t bytes_per_pixel);
/* Changes that budget (0: back to 8 MiB); the tests use it to cross strip boundaries on small
 * rasters. Not thread-safe: call before any work starts. */
void cn_strip_budget_set(size_t bytes);

#endif
