/*
 * metrics.c — a crop map measured against a reference label raster: the confusion matrix and
 * the usual figures (overall and average accuracy, Cohen's kappa, per-class precision, recall,
 * F1 and support).
 *
 * Rows are the reference classes; the columns are the same classes in the same order, then any
 * id the map predicts that the reference lacks, then "unclassified" (0) when the map left a
 * reference pixel without a class. Keeping those extra columns, rather than dropping the pixels,
 * makes them count as misses: the figures never look better for a map that abstains.
 */
#include "cn_labels.h"

#include <stdlib.h>
#include <string.h>

void cn_confusion_free(cn_confusion *c)
{
    free(c->classes);
    free(c->predicted_ids);
    free(c->counts);
    memset(c, 0, sizeof *c);
}

void cn_metrics_free(cn_metrics *m)
{
    free(m->classes);
    memset(m, 0, sizeof *m);
}

/* Allocates out for k rows and ncols columns (counts zeroed). */
static cn_status confusion_alloc(size_t k, size_t ncols, cn_confusion *out)
{
    memset(out, 0, sizeof *out);
    if (k == 0 || ncols < k)
        return cn_set_error(CN_EINVAL, "confusion: %zu classes and %zu columns", k, ncols);
    if (ncols > SIZE_MAX / sizeof(int64_t) / k)
        return cn_set_error(CN_EOVERFLOW, "confusion: %zu x %zu is too large", k, ncols);
    out->classes = calloc(k, sizeof *out->classes);
    out->predicted_ids = calloc(ncols, sizeof *out->predicted_ids);
    out->counts = calloc(k * ncols, sizeof *out->counts);
    if (!out->classes || !out->predicted_ids || !out->counts) {
        cn_confusion_free(out);
        return cn_set_error(CN_ENOMEM, "confusion: out of memory for %zu x %zu", k, ncols);
    }
    out->nclasses = k;
    out->ncols = ncols;
    return CN_OK;
}

cn_status cn_confusion_new(const int *ids, size_t k, const int *predicted_ids, size_t ncols,
                           const int64_t *counts, cn_confusion *out)
{
    cn_status st = confusion_alloc(k, ncols, out);
    if (st)
        return st;
    for (size_t i = 0; i < ncols; i++) {
        int id = predicted_ids[i];
        if (id < 0 || id > 65535 || (i < k && (id != ids[i] || id == 0)))
            st = cn_set_error(CN_EINVAL, "confusion: column %zu has id %d (the first %zu columns "
                              "must be the class ids, in order)", i, id, k);
        for (size_t j = 0; j < i; j++)
            if (predicted_ids[j] == id)
                st = cn_set_error(CN_EINVAL, "confusion: id %d is given twice", id);
        out->predicted_ids[i] = id;
    }
    for (size_t i = 0; !st && i < k * ncols; i++)
        if ((out->counts[i] = counts[i]) < 0)
            st = cn_set_error(CN_EINVAL, "confusion: negative count");
    for (size_t i = 0; i < k; i++)
        out->classes[i].id = ids[i];
    if (st)
        cn_confusion_free(out);
    return st;
}

/* Pass over both rasters: calls visit for every reference-labelled pixel. */
typedef void (*visit_fn)(void *data, int32_t ref, int32_t pred);

static cn_status scan(cn_raster *ref, cn_raster *map, int32_t *a, int32_t *b, int rows,
                      visit_fn visit, void *data)
{
    int height = cn_raster_height(ref);
    for (int y0 = 0; y0 < height; y0 += rows) {
        int h = height - y0 < rows ? height - y0 : rows;
        cn_status st = cn_labels_read_rows(ref, y0, h, a);
        if (!st)
            st = cn_labels_read_rows(map, y0, h, b);
        if (st)
            return st;
        for (size_t i = 0; i < (size_t)cn_raster_width(ref) * (size_t)h; i++)
            if (a[i] > 0)
                visit(data, a[i], b[i]);
    }
    return CN_OK;
}

typedef struct presence {
    uint8_t ref[65536], pred[65536];
} presence;

static void mark(void *data, int32_t ref, int32_t pred)
{
    presence *p = data;
    p->ref[ref] = 1;
    p->pred[pred] = 1;
}

typedef struct tally {
    cn_confusion *c;
    int32_t row[65536], col[65536]; /* id -> row / column index */
} tally;

static void count(void *data, int32_t ref, int32_t pred)
{
    tally *t = data;
    t->c->counts[(size_t)t->row[ref] * t->c->ncols + (size_t)t->col[pred]]++;
}

/* The rows and columns from what pass 1 saw, and each class's name and colour. */
static cn_status layout(const presence *p, cn_raster *ref, cn_raster *map, tally *t,
                        cn_confusion *out)
{
    size_t k = 0, extra = 0;
    for (int id = 1; id < 65536; id++) {
        k += p->ref[id];
        extra += p->pred[id] && !p->ref[id];
    }
    if (k == 0)
        return cn_set_error(CN_EINVAL, "%s: has no labelled pixel (every value is 0 or nodata)",
                            cn_raster_path(ref));
    cn_status st = confusion_alloc(k, k + extra + p->pred[0], out);
    if (st)
        return st;
    size_t r = 0, c = k;
    for (int id = 1; id < 65536; id++) {
        if (p->ref[id]) {
            if (!cn_labels_class(ref, id, &out->classes[r]))
                cn_labels_class(map, id, &out->classes[r]); /* the reference says nothing */
            out->predicted_ids[r] = id;
            t->row[id] = t->col[id] = (int32_t)r++;
        } else if (p->pred[id]) {
            out->predicted_ids[c] = id;
            t->col[id] = (int32_t)c++;
        }
    }
    if (p->pred[0]) {
        out->predicted_ids[c] = 0;
        t->col[0] = (int32_t)c;
    }
    t->c = out;
    return CN_OK;
}

cn_status cn_confusion_from_rasters(const char *map_path, const char *reference_path,
                                    cn_confusion *out)
{
    memset(out, 0, sizeof *out);
    cn_raster *ref = NULL, *map = NULL;
    int32_t *a = NULL, *b = NULL;
    presence *p = NULL;
    tally *t = NULL;
    cn_status st = cn_labels_open(reference_path, &ref);
    if (!st)
        st = cn_labels_open(map_path, &map);
    if (!st)
        st = cn_grid_check(ref, "the reference", map);
    int w = st ? 0 : cn_raster_width(ref);
    int rows = st ? 0 : cn_strip_rows(w, cn_raster_height(ref), 2 * (sizeof(int32_t) + sizeof(double)));
    if (!st && (!(a = malloc((size_t)w * (size_t)rows * sizeof *a))
                || !(b = malloc((size_t)w * (size_t)rows * sizeof *b))
                || !(p = calloc(1, sizeof *p)) || !(t = calloc(1, sizeof *t))))
        st = cn_set_error(CN_ENOMEM, "%s: out of memory", map_path);
    if (!st)
        st = scan(ref, map, a, b, rows, mark, p);
    if (!st)
        st = layout(p, ref, map, t, out);
    if (!st)
        st = scan(ref, map, a, b, rows, count, t);
    free(a);
    free(b);
    free(p);
    free(t);
    cn_raster_close(ref);
    cn_raster_close(map);
    if (st)
        cn_confusion_free(out);
    return st;
}

cn_status cn_metrics_compute(const cn_confusion *c, cn_metrics *out)
{
    memset(out, 0, sizeof *out);
    size_t k = c->nclasses, n = c->ncols;
    if (k == 0)
        return cn_set_error(CN_EINVAL, "metrics: the confusion matrix is empty");
    out->classes = calloc(k, sizeof *out->classes);
    double *colsum = calloc(n, sizeof *colsum);
    if (!out->classes || !colsum) {
        free(colsum);
        cn_metrics_free(out);
        return cn_set_error(CN_ENOMEM, "metrics: out of memory");
    }
    out->nclasses = k;
    double diag = 0;
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < n; j++) {
            int64_t v = c->counts[i * n + j];
            out->classes[i].support += v;
            colsum[j] += (double)v;
        }
        out->total += out->classes[i].support;
        diag += (double)c->counts[i * n + i];
    }
    if (out->total == 0) {
        free(colsum);
        cn_metrics_free(out);
        return cn_set_error(CN_EINVAL, "metrics: no pixel was counted");
    }
    double total = (double)out->total, pe = 0, recall_sum = 0;
    size_t supported = 0;
    for (size_t i = 0; i < k; i++) {
        cn_class_metrics *m = &out->classes[i];
        double tp = (double)c->counts[i * n + i], row = (double)m->support;
        m->precision = colsum[i] > 0 ? tp / colsum[i] : 0;
        m->recall = row > 0 ? tp / row : 0;
        m->f1 = m->precision + m->recall > 0
                    ? 2 * m->precision * m->recall / (m->precision + m->recall)
                    : 0;
        if (row > 0) {
            recall_sum += m->recall;
            supported++;
        }
        pe += (row / total) * (colsum[i] / total); /* extra columns have no row: they add 0 */
    }
    out->oa = diag / total;
    out->aa = recall_sum / (double)supported;
    out->kappa = pe < 1 ? (out->oa - pe) / (1 - pe) : 1;
    free(colsum);
    return CN_OK;
}
