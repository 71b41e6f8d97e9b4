/*
 * mat_list.c — a MAT file opened with matio once mat_check has vouched for its structure, its
 * variables listed, and matio's complaints caught.
 *
 * For v5 files the listing is cross-checked against mat_check's own reading of each element
 * header: matio stops listing at the first element it cannot parse (indistinguishable from the end
 * of the file), so a count that falls short, or a class or element count that differs, means the
 * file is corrupt, and is said so rather than shown as a shorter list.
 */
#include "scene_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mat_class_name(enum matio_classes c, bool logical)
{
    static const char *const names[] = {
        [MAT_C_EMPTY] = "empty",   [MAT_C_CELL] = "cell",       [MAT_C_STRUCT] = "struct",
        [MAT_C_OBJECT] = "object", [MAT_C_CHAR] = "char",       [MAT_C_SPARSE] = "sparse",
        [MAT_C_DOUBLE] = "double", [MAT_C_SINGLE] = "single",   [MAT_C_INT8] = "int8",
        [MAT_C_UINT8] = "uint8",   [MAT_C_INT16] = "int16",     [MAT_C_UINT16] = "uint16",
        [MAT_C_INT32] = "int32",   [MAT_C_UINT32] = "uint32",   [MAT_C_INT64] = "int64",
        [MAT_C_UINT64] = "uint64", [MAT_C_FUNCTION] = "function", [MAT_C_OPAQUE] = "opaque",
    };
    if (logical && c == MAT_C_UINT8)
        return "logical";
    if ((unsigned)c < sizeof names / sizeof names[0] && names[c])
        return names[c];
    return "unknown";
}

static bool numeric_class(int c) { return c >= MAT_C_DOUBLE && c <= MAT_C_UINT64; }

void mat_dims_str(const cn_mat_variable *v, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    int shown = v->rank < CN_MAT_MAX_RANK ? v->rank : CN_MAT_MAX_RANK;
    for (int d = 0; d < shown && n < size; d++) {
        int k = snprintf(buf + n, size - n, "%s%llu", d ? " x " : "",
                         (unsigned long long)v->dims[d]);
        if (k < 0)
            break;
        n += (size_t)k;
    }
    if (v->rank > shown && n < size)
        snprintf(buf + n, size - n, " x ...");
}

bool cn_mat_variable_importable(const cn_mat_variable *v)
{
    if (!v || v->complex || !v->mat_class)
        return false;
    const char *c = v->mat_class;
    if (strcmp(c, "double") && strcmp(c, "single") && strcmp(c, "logical") &&
        strncmp(c, "int", 3) && strncmp(c, "uint", 4))
        return false;
    int rank = v->rank;
    if (rank > CN_MAT_MAX_RANK)
        return false;
    while (rank > 2 && v->dims[rank - 1] == 1)
        rank--;
    if (rank > 3)
        return false;
    for (int d = 0; d < rank; d++)
        if (v->dims[d] == 0)
            return false;
    return rank == 3 || (v->dims[0] > 1 && v->dims[1] > 1);
}

static pthread_mutex_t matio_lock = PTHREAD_MUTEX_INITIALIZER;

void mat_file_close(mat_file *mf)
{
    for (size_t i = 0; mf->vars && i < mf->list.count; i++)
        Mat_VarFree(mf->vars[i]);
    free(mf->vars);
    if (mf->mat)
        Mat_Close(mf->mat);
    cn_mat_list_free(&mf->list);
    mat_layout_free(&mf->layout);
    if (mf->locked)
        pthread_mutex_unlock(&matio_lock);
    memset(mf, 0, sizeof *mf);
}

/* Appends matio's description of one variable to the list (taking ownership of v). */
static cn_status add_variable(mat_file *mf, const char *path, matvar_t *v, size_t *cap)
{
    if (mf->list.count == *cap) {
        size_t ncap = *cap ? 2 * *cap : 8;
        cn_mat_variable *nv = realloc(mf->list.vars, ncap * sizeof *nv);
        if (nv)
            mf->list.vars = nv;
        matvar_t **mv = nv ? realloc(mf->vars, ncap * sizeof *mv) : NULL;
        if (mv)
            mf->vars = mv;
        if (!nv || !mv) {
            Mat_VarFree(v);
            return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
        }
        *cap = ncap;
    }
    cn_mat_variable *e = &mf->list.vars[mf->list.count];
    memset(e, 0, sizeof *e);
    e->name = strdup(v->name ? v->name : "");
    if (!e->name) {
        Mat_VarFree(v);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    }
    e->mat_class = mat_class_name(v->class_type, v->isLogical);
    e->complex = v->isComplex;
    e->rank = v->rank > 0 ? v->rank : 0;
    for (int d = 0; d < e->rank && d < CN_MAT_MAX_RANK; d++)
        e->dims[d] = v->dims ? (uint64_t)v->dims[d] : 0;
    mf->vars[mf->list.count++] = v;
    return CN_OK;
}

/* v5 only: matio's reading of element i must agree with mat_check's. */
static cn_status cross_check(const mat_file *mf, const char *path, size_t i)
{
    const mat_element *e = &mf->layout.elements[i];
    const matvar_t *v = mf->vars[i];
    if (!numeric_class(e->mclass) && !numeric_class(v->class_type))
        return CN_OK;
    uint64_t n = 1;
    bool overflow = false;
    for (int d = 0; d < v->rank && v->dims; d++) {
        if (v->dims[d] && n > UINT64_MAX / v->dims[d])
            overflow = true;
        else
            n *= v->dims[d];
    }
    if (e->overflow || overflow)
        return cn_set_error(CN_EOVERFLOW, "%s: variable %zu ('%s') has dimensions whose product "
                            "overflows", path, i + 1, v->name ? v->name : "");
    if (e->mclass != (int)v->class_type || e->rank != v->rank || overflow || n != e->nelem)
        return cn_set_error(CN_EFORMAT, "%s: corrupt MAT file: the header of variable %zu ('%s') "
                            "does not read consistently", path, i + 1, v->name ? v->name : "");
    return CN_OK;
}

cn_status mat_file_open(const char *path, mat_file *mf)
{
    memset(mf, 0, sizeof *mf);
    cn_status st = mat_check(path, &mf->layout);
    if (st)
        return st;
    pthread_mutex_lock(&matio_lock);
    mf->locked = true;
    const char *msg;
    mat_log_begin();
    mf->mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mf->mat) {
        mat_log_failed(&msg);
        st = cn_set_error(CN_EFORMAT, "%s: truncated or corrupt MAT file: %s", path,
                          *msg ? msg : "matio cannot open it");
        mat_file_close(mf);
        return st;
    }
    mf->list.version = mf->layout.version;
    int want = mf->layout.version == 73 ? MAT_FT_MAT73 : MAT_FT_MAT5;
    if ((int)Mat_GetVersion(mf->mat) != want) {
        st = cn_set_error(CN_EFORMAT, "%s: matio reads this file as another MAT version", path);
        mat_file_close(mf);
        return st;
    }
    size_t cap = 0;
    matvar_t *v;
    while (!st && (v = Mat_VarReadNextInfo(mf->mat)) != NULL)
        st = add_variable(mf, path, v, &cap);
    if (!st && mf->layout.version == 5) {
        if (mf->list.count != mf->layout.count)
            st = cn_set_error(CN_EFORMAT, "%s: corrupt MAT file: variable %zu of %zu cannot be "
                              "read%s%s", path, mf->list.count + 1, mf->layout.count,
                              mat_log_failed(&msg) ? ": " : "", mat_log_failed(&msg) ? msg : "");
        for (size_t i = 0; !st && i < mf->list.count; i++)
            st = cross_check(mf, path, i);
    }
    if (!st && mat_log_failed(&msg))
        st = cn_set_error(CN_EFORMAT, "%s: truncated or corrupt MAT file: %s", path, msg);
    if (st)
        mat_file_close(mf);
    return st;
}

cn_status cn_mat_list_read(const char *path, cn_mat_list *list)
{
    memset(list, 0, sizeof *list);
    if (!path)
        return cn_set_error(CN_EINVAL, "MAT file: no path given");
    mat_file mf;
    cn_status st = mat_file_open(path, &mf);
    if (st)
        return st;
    *list = mf.list; /* hand the list over; the rest is closed */
    memset(&mf.list, 0, sizeof mf.list);
    for (size_t i = 0; i < list->count; i++)
        Mat_VarFree(mf.vars[i]);
    free(mf.vars);
    mf.vars = NULL;
    mat_file_close(&mf);
    return CN_OK;
}

void cn_mat_list_free(cn_mat_list *list)
{
    for (size_t i = 0; list->vars && i < list->count; i++)
        free(list->vars[i].name);
    free(list->vars);
    memset(list, 0, sizeof *list);
}

/* ---------------------------------------------------------------- matio's messages */

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static _Thread_local bool log_failed;
static _Thread_local char log_message[256];

static void keep(const char *prefix, const char *text, size_t n)
{
    if (n > sizeof log_message - strlen(prefix) - 1)
        n = sizeof log_message - strlen(prefix) - 1;
    snprintf(log_message, sizeof log_message, "%s%.*s", prefix, (int)n, text);
}

static void log_hook(int level, char *message)
{
    /* errors, critical messages and warnings all mean the data read is not to be trusted */
    if (!(level & (MATIO_LOG_LEVEL_ERROR | MATIO_LOG_LEVEL_CRITICAL | MATIO_LOG_LEVEL_WARNING)))
        return;
    const char *m = message ? message : "unspecified matio error";
    /* HDF5 reports its error stack top down, one multi-line message per frame; the last frame's
     * "minor" line names the cause ("File has been truncated") */
    const char *minor = strncmp(m, "HDF5", 4) == 0 ? strstr(m, "minor: ") : NULL;
    if (minor)
        keep("HDF5: ", minor + 7, strcspn(minor + 7, "\n"));
    else if (!log_failed)
        keep("", m, strcspn(m, "\n"));
    log_failed = true;
}

static void install_hook(void) { Mat_LogInitFunc("cropnet", log_hook); }

void mat_log_begin(void)
{
    pthread_once(&log_once, install_hook);
    log_failed = false;
    log_message[0] = '\0';
}

bool mat_log_failed(const char **message)
{
    if (message)
        *message = log_message;
    return log_failed;
}
