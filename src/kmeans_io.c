/*
 * kmeans_io.c — the centroids file: a fitted model as a small JSON document, so the zones of one
 * tile can be applied to the next (cropnet cluster --centroids-out / --centroids).
 *
 *   {"format": "cropnet-kmeans", "version": 1, "k": 3, "bands": 2,
 *    "centroids": [[0.5, 1], [3, 4.25], [7, 8]], "inertia": 12.5, "iterations": 7,
 *    "pixels": 1000}
 *
 * JSON rather than CSV because the file carries more than the table (band count, inertia, the
 * pixels fitted) and any language reads it; floats are written with 9 significant digits, which
 * round-trips float32 exactly. The reader checks every field before anything is allocated from
 * it; "inertia" may be null (a model made from given centroids).
 */
#include "cn_output.h"
#include "kmeans_impl.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_NAME "cropnet-kmeans"
#define FORMAT_VERSION 1
#define DUMP_FLAGS (JSON_REAL_PRECISION(9) | JSON_COMPACT)

/* The centroids as a JSON array of k arrays of d numbers (new reference, NULL on ENOMEM). */
static json_t *centroid_rows(const cn_kmeans *km)
{
    json_t *rows = json_array();
    for (int j = 0; rows && j < km->k; j++) {
        json_t *row = json_array();
        if (!row || json_array_append_new(rows, row)) {
            json_decref(rows);
            return NULL;
        }
        for (int f = 0; f < km->d; f++)
            if (json_array_append_new(row, json_real(km->centroids[(size_t)j * (size_t)km->d + (size_t)f]))) {
                json_decref(rows);
                return NULL;
            }
    }
    return rows;
}

char *kmeans_centroids_json(const cn_kmeans *km)
{
    if (!km->centroids)
        return NULL;
    json_t *rows = centroid_rows(km);
    char *s = rows ? json_dumps(rows, DUMP_FLAGS) : NULL;
    json_decref(rows);
    return s;
}

cn_status cn_kmeans_to_json(const cn_kmeans *km, char **out)
{
    if (!km || !out)
        return cn_set_error(CN_EINVAL, "k-means: NULL argument");
    *out = NULL;
    if (!km->centroids)
        return cn_set_error(CN_EINVAL, "k-means: the model has no centroids yet");
    json_t *root = json_object(), *rows = centroid_rows(km);
    bool bad = !root || !rows ||
               json_object_set_new(root, "format", json_string(FORMAT_NAME)) ||
               json_object_set_new(root, "version", json_integer(FORMAT_VERSION)) ||
               json_object_set_new(root, "k", json_integer(km->k)) ||
               json_object_set_new(root, "bands", json_integer(km->d)) ||
               json_object_set(root, "centroids", rows) ||
               json_object_set_new(root, "inertia",
                                   isfinite(km->inertia) ? json_real(km->inertia) : json_null()) ||
               json_object_set_new(root, "iterations", json_integer(km->iterations)) ||
               json_object_set_new(root, "pixels", json_integer(km->pixels));
    char *s = bad ? NULL : json_dumps(root, DUMP_FLAGS);
    json_decref(rows);
    json_decref(root);
    if (!s)
        return cn_set_error(CN_ENOMEM, "k-means: out of memory");
    *out = s;
    return CN_OK;
}

cn_status cn_kmeans_save(const cn_kmeans *km, const char *path, const char *const *inputs)
{
    if (!km || !path)
        return cn_set_error(CN_EINVAL, "k-means: NULL argument");
    char *text;
    cn_status st = cn_kmeans_to_json(km, &text);
    if (st)
        return st;
    cn_output o;
    if ((st = cn_output_begin(path, inputs, &o))) {
        free(text);
        return st;
    }
    FILE *f = fopen(o.temp_path, "wb");
    bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = (f && fclose(f) == 0) && ok;
    free(text);
    if (!ok) {
        cn_output_abort(&o);
        return cn_set_error(CN_EIO, "%s: cannot write the centroids file", path);
    }
    return cn_output_commit(&o);
}

/* An integer member in lo..hi, else a message naming it. */
static cn_status int_member(const char *path, json_t *root, const char *key, json_int_t lo,
                            json_int_t hi, json_int_t *out)
{
    json_t *v = json_object_get(root, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return cn_set_error(CN_EFORMAT, "%s: \"%s\" must be an integer in %lld..%lld", path, key,
                            (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return CN_OK;
}

static cn_status parse(const char *path, json_t *root, cn_kmeans **out)
{
    json_t *fmt = json_object_get(root, "format");
    if (!json_is_object(root) || !json_is_string(fmt) ||
        strcmp(json_string_value(fmt), FORMAT_NAME) != 0)
        return cn_set_error(CN_EFORMAT, "%s: not a cropnet centroids file (no \"format\": \"%s\")",
                            path, FORMAT_NAME);
    json_int_t version = 0, k = 0, d = 0, iterations = 0, pixels = 0;
    cn_status st;
    if ((st = int_member(path, root, "version", 1, INT32_MAX, &version)))
        return st;
    if (version > FORMAT_VERSION)
        return cn_set_error(CN_EVERSION, "%s: centroids file version %lld is newer than this "
                            "cropnet reads (%d)", path, (long long)version, FORMAT_VERSION);
    if ((st = int_member(path, root, "k", 1, CN_CLASS_ID_MAX, &k)) ||
        (st = int_member(path, root, "bands", 1, 1 << 20, &d)))
        return st;
    if (json_object_get(root, "iterations") &&
        (st = int_member(path, root, "iterations", 0, INT32_MAX, &iterations)))
        return st;
    if (json_object_get(root, "pixels") &&
        (st = int_member(path, root, "pixels", 0, INT64_MAX, &pixels)))
        return st;
    json_t *rows = json_object_get(root, "centroids"), *in = json_object_get(root, "inertia");
    if (!json_is_array(rows) || json_array_size(rows) != (size_t)k)
        return cn_set_error(CN_EFORMAT, "%s: \"centroids\" must be an array of k = %lld rows",
                            path, (long long)k);
    if (in && !json_is_null(in) && (!json_is_number(in) || !(json_number_value(in) >= 0)))
        return cn_set_error(CN_EFORMAT, "%s: \"inertia\" must be a number >= 0 or null", path);
    float *c = malloc((size_t)k * (size_t)d * sizeof *c);
    if (!c)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    for (size_t j = 0; j < (size_t)k; j++) {
        json_t *row = json_array_get(rows, j);
        if (!json_is_array(row) || json_array_size(row) != (size_t)d) {
            free(c);
            return cn_set_error(CN_EFORMAT, "%s: centroid %zu must be an array of %lld numbers",
                                path, j + 1, (long long)d);
        }
        for (size_t f = 0; f < (size_t)d; f++) {
            json_t *v = json_array_get(row, f);
            double x = json_is_number(v) ? json_number_value(v) : NAN;
            if (!isfinite(x) || fabs(x) > 3.4e38) {
                free(c);
                return cn_set_error(CN_EFORMAT, "%s: centroid %zu, band %zu is not a finite "
                                    "float32 number", path, j + 1, f + 1);
            }
            c[j * (size_t)d + f] = (float)x;
        }
    }
    cn_kmeans *km;
    st = cn_kmeans_new((int)k, (int)d, c, &km);
    free(c);
    if (st)
        return st;
    km->inertia = in && json_is_number(in) ? json_number_value(in) : NAN;
    km->iterations = (int)iterations;
    km->pixels = (int64_t)pixels;
    *out = km;
    return CN_OK;
}

cn_status cn_kmeans_load(const char *path, cn_kmeans **out)
{
    if (!path || !out)
        return cn_set_error(CN_EINVAL, "k-means: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cn_set_error(CN_EIO, "%s: cannot open the centroids file", path);
    json_error_t err;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &err);
    fclose(f);
    if (!root)
        return cn_set_error(CN_EFORMAT, "%s: not a cropnet centroids file (JSON error at line "
                            "%d: %s)", path, err.line, err.text);
    cn_status st = parse(path, root, out);
    json_decref(root);
    return st;
}
