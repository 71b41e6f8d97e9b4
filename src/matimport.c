/*
 * matimport.c — one MAT variable converted to a GeoTIFF: a cube of its own data type, or a label
 * map with the benchmark's class names.
 *
 * The array is read with matio in strips of whole tile rows (a hyperslab: rows r0..r0+h, every
 * column and band) and handed to GDAL as is: a column-major strip is just a buffer with unusual
 * strides (next column = h values, next row = 1, next band = h x cols), so no transposed copy is
 * ever made and memory stays near one strip. Strips are sized to 64 MiB, so the benchmarks (Salinas
 * is 45 MB) are read in one go; that matters for compressed v5 files, where matio inflates from the
 * start of the variable for every strip.
 */
#include "scene_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRIP_BUDGET ((size_t)64 << 20)


/* GDAL's type for a MATLAB class (GDT_Unknown when not numeric); int8 goes to a signed Byte. */
static GDALDataType gdal_type(enum matio_classes c, size_t *esize)
{
    static const struct { enum matio_classes c; GDALDataType t; size_t size; } map[] = {
        {MAT_C_DOUBLE, GDT_Float64, 8}, {MAT_C_SINGLE, GDT_Float32, 4},
        {MAT_C_INT8, GDT_Byte, 1},      {MAT_C_UINT8, GDT_Byte, 1},
        {MAT_C_INT16, GDT_Int16, 2},    {MAT_C_UINT16, GDT_UInt16, 2},
        {MAT_C_INT32, GDT_Int32, 4},    {MAT_C_UINT32, GDT_UInt32, 4},
        {MAT_C_INT64, GDT_Int64, 8},    {MAT_C_UINT64, GDT_UInt64, 8},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].c == c) {
            *esize = map[i].size;
            return map[i].t;
        }
    return GDT_Unknown;
}

/* The class of a v5 storage type, for doubles and singles stored as integers; else c. */
static enum matio_classes kept_class(enum matio_classes c, int storage)
{
    static const enum matio_classes of[] = {
        [MAT_T_INT8] = MAT_C_INT8,   [MAT_T_UINT8] = MAT_C_UINT8,   [MAT_T_INT16] = MAT_C_INT16,
        [MAT_T_UINT16] = MAT_C_UINT16, [MAT_T_INT32] = MAT_C_INT32, [MAT_T_UINT32] = MAT_C_UINT32,
        [MAT_T_INT64] = MAT_C_INT64, [MAT_T_UINT64] = MAT_C_UINT64,
    };
    if ((c == MAT_C_DOUBLE || c == MAT_C_SINGLE) && storage > 0 &&
        (size_t)storage < sizeof of / sizeof of[0] && of[storage])
        return of[storage];
    return c;
}

/* "a (int16 83 x 86 x 204), b (char 1 x 5)" for messages, truncated to fit buf. */
static const char *describe_all(const cn_mat_list *list, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < list->count && n + 1 < size; i++) {
        char dims[96];
        mat_dims_str(&list->vars[i], dims, sizeof dims);
        int k = snprintf(buf + n, size - n, "%s%s (%s%s %s)", i ? ", " : "", list->vars[i].name,
                         list->vars[i].complex ? "complex " : "", list->vars[i].mat_class, dims);
        if (k < 0)
            break;
        n += (size_t)k;
    }
    if (list->count == 0)
        snprintf(buf, size, "none");
    return buf;
}

/* Why variable v cannot be imported, for the message "SRC: variable 'x' <reason>". */
static void refusal(const cn_mat_variable *v, char *buf, size_t size)
{
    char dims[96];
    mat_dims_str(v, dims, sizeof dims);
    int rank = v->rank;
    while (rank > 2 && rank <= CN_MAT_MAX_RANK && v->dims[rank - 1] == 1)
        rank--;
    bool empty = false;
    for (int d = 0; d < rank && d < CN_MAT_MAX_RANK; d++)
        empty = empty || v->dims[d] == 0;
    if (v->complex)
        snprintf(buf, size, "is a complex array (%s); expected real numbers", dims);
    else if (!cn_mat_variable_importable(v) && strcmp(v->mat_class, "double") &&
             strcmp(v->mat_class, "single") && strcmp(v->mat_class, "logical") &&
             strncmp(v->mat_class, "int", 3) && strncmp(v->mat_class, "uint", 4))
        snprintf(buf, size, "is a %s, not a numeric array", v->mat_class);
    else if (empty)
        snprintf(buf, size, "is empty (%s)", dims);
    else if (rank > 3)
        snprintf(buf, size, "has %d dimensions (%s); expected rows x cols [x bands]", v->rank,
                 dims);
    else
        snprintf(buf, size, "is 1-D (%s); expected rows x cols [x bands]", dims);
}

/* Picks the variable: the one named, else the only importable one, else the largest. */
static cn_status pick(import_job *job, const char *name, cn_import_report *rep)
{
    const cn_mat_list *list = &job->mf.list;
    char all[512], why[160];
    size_t best = SIZE_MAX;
    double best_n = -1;
    for (size_t i = 0; i < list->count; i++) {
        const cn_mat_variable *v = &list->vars[i];
        bool ok = cn_mat_variable_importable(v);
        rep->importable += ok;
        if (name ? strcmp(v->name, name) == 0 && best == SIZE_MAX : ok) {
            double n = 1;
            for (int d = 0; d < v->rank && d < CN_MAT_MAX_RANK; d++)
                n *= (double)v->dims[d];
            if (name || n > best_n) {
                best = i;
                best_n = n;
            }
        }
    }
    if (list->count == 0)
        return cn_set_error(CN_EFORMAT, "%s: no variables (an empty or truncated MAT file)",
                            job->src);
    if (best == SIZE_MAX && name)
        return cn_set_error(CN_EINVAL, "%s: no variable '%s' (variables: %s)", job->src, name,
                            describe_all(list, all, sizeof all));
    if (best == SIZE_MAX)
        return cn_set_error(CN_EINVAL, "%s: no numeric array of 2 or 3 dimensions (variables: "
                            "%s)", job->src, describe_all(list, all, sizeof all));
    const cn_mat_variable *v = &list->vars[best];
    if (!cn_mat_variable_importable(v)) {
        refusal(v, why, sizeof why);
        return cn_set_error(CN_EINVAL, "%s: variable '%s' %s", job->src, v->name, why);
    }
    job->index = best;
    job->var = job->mf.vars[best];
    snprintf(rep->variable, sizeof rep->variable, "%s", v->name);
    rep->picked = name == NULL;
    return CN_OK;
}

/* Sizes, types and the strip height, every product overflow-checked. */
static cn_status plan(import_job *job)
{
    const cn_mat_variable *v = &job->mf.list.vars[job->index];
    job->rows = (int64_t)v->dims[0];
    job->cols = (int64_t)v->dims[1];
    job->bands = 1;
    for (int d = 2; d < v->rank; d++)
        job->bands *= (int64_t)v->dims[d]; /* trailing dimensions are 1 beyond the third */
    job->type = gdal_type(job->var->class_type, &job->esize);
    job->out_class = job->var->class_type;
    if (job->mf.layout.version == 5)
        job->out_class = kept_class(job->out_class, job->mf.layout.elements[job->index].storage);
    size_t out_size;
    job->out_type = gdal_type(job->out_class, &out_size);
    if (job->type == GDT_Unknown || job->out_type == GDT_Unknown)
        return cn_set_error(CN_EINVAL, "%s: variable '%s' has no GeoTIFF data type", job->src,
                            v->name);
    if (v->dims[0] > INT_MAX || v->dims[1] > INT_MAX || (v->rank > 2 && v->dims[2] > INT_MAX))
        return cn_set_error(CN_EOVERFLOW, "%s: variable '%s' is %llu x %llu x %lld; a GeoTIFF "
                            "side is at most %d", job->src, v->name, (unsigned long long)v->dims[0],
                            (unsigned long long)v->dims[1], (long long)job->bands, INT_MAX);
    if (job->bands > 65535)
        return cn_set_error(CN_EINVAL, "%s: variable '%s' has %lld bands; a GeoTIFF holds at "
                            "most 65535", job->src, v->name, (long long)job->bands);
    uint64_t pixels = (uint64_t)job->rows * (uint64_t)job->cols, nelem, line;
    if (pixels > UINT64_MAX / (uint64_t)job->bands ||
        (nelem = pixels * (uint64_t)job->bands) > UINT64_MAX / job->esize ||
        (uint64_t)job->cols * (uint64_t)job->bands > SIZE_MAX / job->esize)
        return cn_set_error(CN_EOVERFLOW, "%s: variable '%s': %llu x %llu x %lld values overflow",
                            job->src, v->name, (unsigned long long)job->rows,
                            (unsigned long long)job->cols, (long long)job->bands);
    /* the dimensions claimed must fit in what the file holds */
    if (job->mf.layout.version == 5) {
        const mat_element *e = &job->mf.layout.elements[job->index];
        if (!e->data_ok || e->nelem != nelem)
            return cn_set_error(CN_EFORMAT, "%s: corrupt MAT file: variable '%s' holds fewer "
                                "values than its dimensions need", job->src, v->name);
    } else if (nelem / 1100 > job->mf.layout.file_size) {
        return cn_set_error(CN_EFORMAT, "%s: corrupt MAT file: variable '%s' claims %llu values, "
                            "more than a file of %llu bytes can hold", job->src, v->name,
                            (unsigned long long)nelem,
                            (unsigned long long)job->mf.layout.file_size);
    }
    line = (uint64_t)job->cols * (uint64_t)job->bands * job->esize;
    /* whole tile rows, so GDAL never holds half-written tiles, unless one is absurdly large */
    int64_t h = (int64_t)(STRIP_BUDGET / line);
    if (h >= 256)
        h -= h % 256;
    else if (line <= ((uint64_t)1 << 30) / 256)
        h = 256;
    job->strip = h < 1 ? 1 : h > job->rows ? job->rows : h;
    return CN_OK;
}

cn_status import_read_strip(import_job *job, int64_t r0, int64_t h, void *buf)
{
    int start[CN_MAT_MAX_RANK] = {0}, stride[CN_MAT_MAX_RANK], edge[CN_MAT_MAX_RANK];
    int rank = job->var->rank;
    for (int d = 0; d < rank; d++) {
        stride[d] = 1;
        edge[d] = (int)job->var->dims[d];
    }
    start[0] = (int)r0;
    edge[0] = (int)h;
    const char *msg;
    mat_log_begin();
    int err = Mat_VarReadData(job->mf.mat, job->var, buf, start, stride, edge);
    if (err || mat_log_failed(&msg))
        return cn_set_error(CN_EFORMAT, "%s: cannot read variable '%s': %s", job->src,
                            job->var->name, mat_log_failed(&msg) && *msg ? msg
                                                                         : "matio read error");
    return CN_OK;
}

cn_status import_progress(const cn_import_options *o, double f, const char *src)
{
    if (o && o->progress && !o->progress(f, NULL, o->progress_data))
        return cn_set_error(CN_ECANCELLED, "%s: import cancelled", src);
    return CN_OK;
}

static cn_status write_image(import_job *job, scene_tiff *t, void *buf, double from,
                             const cn_import_options *o)
{
    for (int64_t r0 = 0; r0 < job->rows; r0 += job->strip) {
        int64_t h = job->rows - r0 < job->strip ? job->rows - r0 : job->strip;
        /* a 2-D array the scan read in one strip is still in buf */
        cn_status st = CN_OK;
        if (job->strip < job->rows || from == 0)
            st = import_read_strip(job, r0, h, buf);
        if (st)
            return st;
        GSpacing es = (GSpacing)job->esize;
        CPLErrorReset();
        if (GDALDatasetRasterIOEx(t->ds, GF_Write, 0, (int)r0, (int)job->cols, (int)h, buf,
                                  (int)job->cols, (int)h, job->type, (int)job->bands, NULL,
                                  h * es, es, h * job->cols * es, NULL) != CE_None)
            return cn_gdal_fail(CN_EIO, t->out.path, "cannot write");
        double done = (double)(r0 + h) / (double)job->rows;
        st = import_progress(o, from + (1 - from) * done, job->src);
        if (st)
            return st;
    }
    return CN_OK;
}

cn_status cn_mat_import(const char *src, const char *dst, const cn_import_options *options,
                        cn_import_report *report)
{
    cn_import_report rep;
    memset(&rep, 0, sizeof rep);
    if (report)
        *report = rep;
    if (!src || !dst)
        return cn_set_error(CN_EINVAL, "import: no %s path given", src ? "output" : "input");
    cn_gdal_init();
    /* an unusable output is reported before any reading */
    const char *inputs[] = {src, NULL};
    cn_output probe;
    cn_status st = cn_output_begin(dst, inputs, &probe);
    cn_output_abort(&probe);
    if (st)
        return st;
    import_job job = {.src = src};
    scene_tiff t;
    memset(&t, 0, sizeof t);
    void *buf = NULL;
    uint8_t *present = NULL;
    st = mat_file_open(src, &job.mf);
    if (!st)
        st = pick(&job, options ? options->variable : NULL, &rep);
    if (!st)
        st = plan(&job);
    if (st)
        goto done;
    rep.version = job.mf.layout.version;
    rep.mat_class = job.mf.list.vars[job.index].mat_class;
    if (job.out_class != job.var->class_type)
        rep.stored_as = mat_class_name(job.out_class, false);
    rep.width = job.cols;
    rep.height = job.rows;
    rep.bands = job.bands;
    buf = malloc((size_t)job.strip * (size_t)job.cols * (size_t)job.bands * job.esize);
    present = calloc(65536, 1);
    if (!buf || !present) {
        st = cn_set_error(CN_ENOMEM, "%s: out of memory for a strip of %lld rows", src,
                          (long long)job.strip);
        goto done;
    }
    bool labels = false;
    if (job.bands == 1)
        st = import_scan_labels(&job, buf, present, &labels, &rep, options);
    if (st)
        goto done;
    rep.kind = labels ? CN_SCENE_LABELS : CN_SCENE_IMAGE;
    if (labels) {
        rep.benchmark = cn_benchmark_find(rep.variable);
        if (!rep.benchmark)
            rep.benchmark = cn_benchmark_find(src);
        rep.gdal_type = rep.max_id > 255 ? "UInt16" : "Byte";
        st = import_write_labels(&job, dst, present, buf, &rep, options);
        goto done;
    }
    const char *signed_byte[] = {"PIXELTYPE=SIGNEDBYTE", NULL};
    st = scene_tiff_create(dst, inputs, job.cols, job.rows, job.bands, job.out_type,
                           job.out_class == MAT_C_INT8 ? signed_byte : NULL, NULL, NULL, &t);
    if (!st)
        st = write_image(&job, &t, buf, job.bands == 1 ? 0.5 : 0, options);
    if (!st)
        st = scene_tiff_commit(&t);
    rep.gdal_type = job.out_class == MAT_C_INT8 ? "Int8" : GDALGetDataTypeName(job.out_type);
done:
    if (st)
        scene_tiff_abort(&t);
    free(buf);
    free(present);
    mat_file_close(&job.mf);
    if (report && !st)
        *report = rep;
    return st;
}
