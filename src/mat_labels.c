/*
 * mat_labels.c — a 2-D MAT array recognised as class ids and written as a label map: the
 * benchmark's class names and colours where the scene is one, "class N" otherwise.
 *
 * Recognition scans the whole array (label arrays are small: one band); writing transposes each
 * column-major strip into the row-major ids cn_labelmap takes, so colour tables and category names
 * are written the same way as every other label map of the project.
 */
#include "scene_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value at i of a strip as a double (exact for every id a label map can hold). */
static double value_at(const void *buf, size_t i, enum matio_classes c)
{
    switch (c) {
    case MAT_C_DOUBLE: return ((const double *)buf)[i];
    case MAT_C_SINGLE: return ((const float *)buf)[i];
    case MAT_C_INT8: return ((const int8_t *)buf)[i];
    case MAT_C_UINT8: return ((const uint8_t *)buf)[i];
    case MAT_C_INT16: return ((const int16_t *)buf)[i];
    case MAT_C_UINT16: return ((const uint16_t *)buf)[i];
    case MAT_C_INT32: return ((const int32_t *)buf)[i];
    case MAT_C_UINT32: return ((const uint32_t *)buf)[i];
    case MAT_C_INT64: return (double)((const int64_t *)buf)[i];
    case MAT_C_UINT64: return (double)((const uint64_t *)buf)[i];
    default: return NAN;
    }
}

/* 2-D arrays: a label map when every value is an integer in 0..65535; present[] marks ids. */
cn_status import_scan_labels(import_job *job, void *buf, uint8_t *present, bool *labels,
                             cn_import_report *rep, const cn_import_options *o)
{
    *labels = true;
    for (int64_t r0 = 0; r0 < job->rows && *labels; r0 += job->strip) {
        int64_t h = job->rows - r0 < job->strip ? job->rows - r0 : job->strip;
        cn_status st = import_read_strip(job, r0, h, buf);
        if (!st)
            st = import_progress(o, 0.5 * (double)(r0 + h) / (double)job->rows, job->src);
        if (st)
            return st;
        size_t n = (size_t)h * (size_t)job->cols;
        for (size_t i = 0; i < n; i++) {
            double v = value_at(buf, i, job->var->class_type);
            if (!(v >= 0 && v <= 65535 && v == floor(v))) {
                *labels = false;
                break;
            }
            int id = (int)v;
            present[id] = 1;
            rep->labelled += id > 0;
            if (id > rep->max_id)
                rep->max_id = id;
        }
    }
    if (*labels && rep->max_id == 0)
        *labels = false; /* all zeros: nothing to call a class */
    if (!*labels) {
        rep->labelled = 0;
        rep->max_id = 0;
    }
    return CN_OK;
}

/* The classes of the present ids: the benchmark's names and colours, else "class N" and the
 * project's default colour. *out is malloc'd. */
static cn_status label_classes(const char *src, const uint8_t *present, int max_id,
                               const cn_benchmark *bm, cn_class_info **out, size_t *count)
{
    size_t n = 0;
    for (int id = 1; id <= max_id; id++)
        n += present[id];
    cn_class_info *c = calloc(n ? n : 1, sizeof *c);
    if (!c)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", src);
    size_t k = 0;
    for (int id = 1; id <= max_id; id++) {
        if (!present[id])
            continue;
        c[k].id = id;
        if (bm && (size_t)id <= bm->count) {
            snprintf(c[k].name, sizeof c[k].name, "%s", bm->classes[id - 1].name);
            memcpy(c[k].rgb, bm->classes[id - 1].rgb, 3);
        } else {
            snprintf(c[k].name, sizeof c[k].name, "class %d", id);
            cn_class_default_rgb(id, c[k].rgb);
        }
        k++;
    }
    *out = c;
    *count = n;
    return CN_OK;
}

/* Writes the label map strip by strip, transposing each column-major strip into row-major ids. */
cn_status import_write_labels(import_job *job, const char *dst, const uint8_t *present,
                              void *buf, cn_import_report *rep, const cn_import_options *o)
{
    const char *inputs[] = {job->src, NULL};
    cn_class_info *classes = NULL;
    size_t n = 0;
    cn_labelmap *lm = NULL;
    cn_georef none = {NULL, NULL};
    int32_t *ids = malloc((size_t)job->strip * (size_t)job->cols * sizeof *ids);
    cn_status st = ids ? CN_OK : cn_set_error(CN_ENOMEM, "%s: out of memory", job->src);
    if (!st)
        st = label_classes(job->src, present, rep->max_id, rep->benchmark, &classes, &n);
    if (!st)
        st = cn_labelmap_create(dst, inputs, (int)job->cols, (int)job->rows, none, rep->max_id,
                                classes, n, NULL, &lm);
    for (int64_t r0 = 0; !st && r0 < job->rows; r0 += job->strip) {
        int64_t h = job->rows - r0 < job->strip ? job->rows - r0 : job->strip;
        /* a 2-D array the scan read in one strip is still in buf */
        if (job->strip < job->rows)
            st = import_read_strip(job, r0, h, buf);
        for (int64_t r = 0; !st && r < h; r++)
            for (int64_t c = 0; c < job->cols; c++)
                ids[r * job->cols + c] = (int32_t)value_at(buf, (size_t)(r + h * c),
                                                           job->var->class_type);
        if (!st)
            st = cn_labelmap_write(lm, 0, (int)r0, (int)job->cols, (int)h, ids);
        if (!st)
            st = import_progress(o, 0.5 + 0.5 * (double)(r0 + h) / (double)job->rows,
                                 job->src);
    }
    if (!st) {
        st = cn_labelmap_commit(lm);
        lm = NULL;
    }
    cn_labelmap_abort(lm);
    free(classes);
    free(ids);
    return st;
}
