/*
 * kmeans.c — the k-means model object, its options, and the fit: valid rows, tolerance,
 * restarts (n_init) keeping the lowest inertia.
 *
 * The fit leaves out rows with a NaN or infinite band (copying the valid ones only when there is
 * something to leave out), scales tol by the mean per-band variance as scikit-learn does (both
 * found in one pass over the pixels), and
 * draws every restart's initial centroids from one generator seeded once, so a seed fixes the
 * whole fit.
 */
#include "kmeans_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cn_kmeans_defaults(cn_kmeans_options *o)
{
    memset(o, 0, sizeof *o);
    o->k = 8;
    o->init = CN_KMEANS_INIT_PLUSPLUS;
    o->n_init = 1;
    o->max_iter = 300;
    o->tol = 1e-4;
    o->threading = CN_KMEANS_SPLIT_PIXELS;
}

static bool all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return false;
    return true;
}

cn_status cn_kmeans_new(int k, int d, const float *centroids, cn_kmeans **out)
{
    if (!out)
        return cn_set_error(CN_EINVAL, "k-means: NULL argument");
    *out = NULL;
    if (k < 1 || d < 1)
        return cn_set_error(CN_EINVAL, "k-means: needs k >= 1 and at least one band (k = %d, "
                            "%d bands)", k, d);
    if ((uint64_t)k * (uint64_t)d > SIZE_MAX / sizeof(float) / 2)
        return cn_set_error(CN_EOVERFLOW, "k-means: %d clusters x %d bands is too large", k, d);
    if (centroids && !all_finite(centroids, (size_t)k * (size_t)d))
        return cn_set_error(CN_EINVAL, "k-means: a centroid has a NaN or infinite value");
    cn_kmeans *km = calloc(1, sizeof *km);
    if (!km)
        return cn_set_error(CN_ENOMEM, "k-means: out of memory");
    km->k = k;
    km->d = d;
    km->inertia = NAN;
    if (centroids) {
        km->centroids = malloc((size_t)k * (size_t)d * sizeof *km->centroids);
        if (!km->centroids) {
            free(km);
            return cn_set_error(CN_ENOMEM, "k-means: out of memory");
        }
        memcpy(km->centroids, centroids, (size_t)k * (size_t)d * sizeof *km->centroids);
    }
    *out = km;
    return CN_OK;
}

void cn_kmeans_free(cn_kmeans *km)
{
    if (!km)
        return;
    free(km->centroids);
    free(km->counts);
    free(km);
}

int cn_kmeans_k(const cn_kmeans *km) { return km->k; }
int cn_kmeans_dims(const cn_kmeans *km) { return km->d; }
const float *cn_kmeans_centroids(const cn_kmeans *km) { return km->centroids; }
double cn_kmeans_inertia(const cn_kmeans *km) { return km->inertia; }
int cn_kmeans_iterations(const cn_kmeans *km) { return km->iterations; }
int64_t cn_kmeans_pixels(const cn_kmeans *km) { return km->pixels; }

cn_status kmeans_set_result(cn_kmeans *km, const float *c, double inertia, int iterations,
                            int64_t pixels)
{
    size_t bytes = (size_t)km->k * (size_t)km->d * sizeof *km->centroids;
    if (!km->centroids && !(km->centroids = malloc(bytes)))
        return cn_set_error(CN_ENOMEM, "k-means: out of memory");
    if (c != km->centroids)
        memcpy(km->centroids, c, bytes);
    km->inertia = inertia;
    km->iterations = iterations;
    km->pixels = pixels;
    return CN_OK;
}

bool kmeans_progress(const cn_kmeans_options *o, int run, int runs, double f)
{
    if (!o->progress)
        return true;
    return o->progress(((double)run + f) / (runs > 0 ? runs : 1), "k-means", o->progress_data) != 0;
}

cn_status kmeans_check_options(const cn_kmeans_options *o, int d, int64_t valid)
{
    if (o->k < 1)
        return cn_set_error(CN_EINVAL, "k-means: k must be at least 1 (k = %d)", o->k);
    if (o->n_init < 1 || o->max_iter < 1)
        return cn_set_error(CN_EINVAL, "k-means: n_init and max_iter must be at least 1 "
                            "(n_init = %d, max_iter = %d)", o->n_init, o->max_iter);
    if (!(o->tol >= 0) || !isfinite(o->tol))
        return cn_set_error(CN_EINVAL, "k-means: tol must be a number >= 0 (tol = %g)", o->tol);
    if (o->threads < 0)
        return cn_set_error(CN_EINVAL, "k-means: threads must be >= 0 (%d)", o->threads);
    if ((unsigned)o->init > CN_KMEANS_INIT_GIVEN)
        return cn_set_error(CN_EINVAL, "k-means: unknown initialisation %d", (int)o->init);
    if ((unsigned)o->threading > CN_KMEANS_SPLIT_BLAS)
        return cn_set_error(CN_EINVAL, "k-means: unknown threading %d", (int)o->threading);
    if (o->init == CN_KMEANS_INIT_GIVEN &&
        (!o->init_centroids || !all_finite(o->init_centroids, (size_t)o->k * (size_t)d)))
        return cn_set_error(CN_EINVAL, "k-means: given initial centroids are missing or not "
                            "finite");
    if (valid == 0)
        return cn_set_error(CN_EINVAL, "k-means: no valid pixel to fit (every pixel has a NaN "
                            "or infinite band)");
    if (o->k > valid)
        return cn_set_error(CN_EINVAL, "k-means: k = %d is more than the %lld valid pixel%s",
                            o->k, (long long)valid, valid == 1 ? "" : "s");
    return CN_OK;
}

cn_status kmeans_valid_rows(const float *x, int64_t n, int d, const float **out, int64_t *count,
                            bool *owned, int64_t **index)
{
    int64_t valid = 0;
    for (int64_t i = 0; i < n; i++)
        valid += all_finite(x + (size_t)i * (size_t)d, (size_t)d);
    *out = x;
    *count = valid;
    *owned = false;
    if (index)
        *index = NULL;
    if (valid == n || valid == 0)
        return CN_OK;
    float *copy = malloc((size_t)valid * (size_t)d * sizeof *copy);
    int64_t *idx = index ? malloc((size_t)valid * sizeof *idx) : NULL;
    if (!copy || (index && !idx)) {
        free(copy);
        free(idx);
        return cn_set_error(CN_ENOMEM, "k-means: out of memory for %lld pixels",
                            (long long)valid);
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + (size_t)i * (size_t)d;
        if (!all_finite(r, (size_t)d))
            continue;
        memcpy(copy + (size_t)m * (size_t)d, r, (size_t)d * sizeof *copy);
        if (idx)
            idx[m] = i;
        m++;
    }
    *out = copy;
    *owned = true;
    if (index)
        *index = idx;
    return CN_OK;
}

/* Spreads the labels of the valid rows back over all n rows (-1 for the others). */
static void scatter_labels(int32_t *labels, int64_t n, const int32_t *valid_labels,
                           const int64_t *index, int64_t count)
{
    for (int64_t i = n, m = count; i-- > 0;) {
        if (m > 0 && index[m - 1] == i)
            labels[i] = valid_labels[--m];
        else
            labels[i] = -1;
    }
}

cn_status cn_kmeans_fit(const float *x, int64_t n, int d, const cn_kmeans_options *o,
                        int32_t *labels, cn_kmeans **out)
{
    if (!o || !out || (!x && n > 0) || n < 0 || d < 1)
        return cn_set_error(CN_EINVAL, "k-means: NULL argument or no band");
    *out = NULL;
    cn_status st = kmeans_check_options(o, d, INT64_MAX); /* all but k against the pixels */
    if (st)
        return st;
    const float *v = x;
    int64_t valid = n, invalid, *index = NULL;
    bool owned = false;
    cn_kmeans *km = NULL;
    kwork w;
    memset(&w, 0, sizeof w);
    float *c = NULL, *best = NULL;
    int32_t *lab = NULL, *best_lab = NULL;
    double mean_var = 0;
    const int width = 2 + (int)log((double)o->k);
    /* one pass finds the norms, the band variance and the invalid rows; only when there are
     * invalid rows are the valid ones copied, and the pass run again on them */
    if ((st = kwork_new(n, d, o->k, width, o->threads, o->threading, &w)))
        goto done;
    kpass_norms(&w, x, &invalid, &mean_var);
    if (invalid > 0 && invalid < n) {
        kwork_free(&w);
        if ((st = kmeans_valid_rows(x, n, d, &v, &valid, &owned, labels ? &index : NULL)) ||
            (st = kwork_new(valid, d, o->k, width, o->threads, o->threading, &w)))
            goto done;
    }
    valid = n - invalid;
    if ((st = kmeans_check_options(o, d, valid)) || (st = cn_kmeans_new(o->k, d, NULL, &km)))
        goto done;
    const size_t kd = (size_t)o->k * (size_t)d;
    const bool keep_labels = labels && o->n_init > 1 && o->init != CN_KMEANS_INIT_GIVEN;
    c = malloc(kd * sizeof *c);
    best = malloc(kd * sizeof *best);
    lab = malloc((size_t)valid * sizeof *lab);
    best_lab = keep_labels ? malloc((size_t)valid * sizeof *best_lab) : NULL;
    if (!c || !best || !lab || (keep_labels && !best_lab)) {
        st = cn_set_error(CN_ENOMEM, "k-means: out of memory for %lld pixels", (long long)valid);
        goto done;
    }
    const double tol_abs = o->tol * mean_var;
    cn_rng rng;
    cn_rng_seed(&rng, o->seed);
    const int runs = o->init == CN_KMEANS_INIT_GIVEN ? 1 : o->n_init;
    double best_inertia = INFINITY;
    int best_iter = 0;
    for (int r = 0; r < runs; r++) {
        klloyd_result res;
        if (!kmeans_progress(o, r, runs, 0)) {
            st = cn_set_error(CN_ECANCELLED, "k-means: cancelled");
            goto done;
        }
        if ((st = kmeans_init_centroids(&w, v, o, &rng, c)) ||
            (st = kmeans_lloyd(&w, v, c, lab, o->max_iter, tol_abs, o, r, &res)))
            goto done;
        if (r == 0 || res.inertia < best_inertia) {
            best_inertia = res.inertia;
            best_iter = res.iterations;
            memcpy(best, c, kd * sizeof *c);
            if (keep_labels)
                memcpy(best_lab, lab, (size_t)valid * sizeof *lab);
        }
    }
    if (!kmeans_progress(o, runs, runs, 0)) {
        st = cn_set_error(CN_ECANCELLED, "k-means: cancelled");
        goto done;
    }
    if ((st = kmeans_set_result(km, best, best_inertia, best_iter, valid)))
        goto done;
    if (labels) {
        const int32_t *src = keep_labels ? best_lab : lab;
        if (owned)
            scatter_labels(labels, n, src, index, valid);
        else
            memcpy(labels, src, (size_t)n * sizeof *labels);
    }
done:
    kwork_free(&w);
    free(c);
    free(best);
    free(lab);
    free(best_lab);
    free(index);
    if (owned)
        free((void *)v);
    if (st) {
        cn_kmeans_free(km);
        return st;
    }
    *out = km;
    return CN_OK;
}
