/*
 * kmeans_lloyd.c — Lloyd's iterations, as scikit-learn's _kmeans_single_lloyd, and predict.
 *
 * Each iteration is one assignment pass (labels, and per chunk the centroid sums and counts), a
 * reduction of the chunk partials in chunk order, the re-seeding of empty clusters, and the new
 * centroids. It stops when no label changed (strict convergence), when the centroids moved by at
 * most tol (sum of squared shifts, tol already scaled by the data's variance), or at max_iter.
 * A last pass labels the pixels with the final centroids and sums their exact squared distances,
 * so the labels and the inertia always belong to the centroids returned. (The iterations' own
 * Σ‖x‖² − 2·c·Σx + n·‖c‖² would save that pass on strict convergence, but it cancels: with
 * ‖x‖² ten thousand times the distances, float sums leave it three digits.)
 *
 * Empty clusters (scikit-learn's _relocate_empty_clusters): each takes one of the pixels farthest
 * from their centroid, which leaves its own cluster; a cluster is never emptied that way, and a
 * cluster that stays empty keeps its centroid — nothing ever divides by zero.
 */
#include "kmeans_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct far_pixel {
    float dist;
    int64_t row;
} far_pixel;

/* The m rows of largest dist (ties: lowest row first), whose cluster holds more than one pixel,
 * into far[0..*found), farthest first. */
static void farthest(const float *dist, const int32_t *labels, int64_t n, const int64_t *counts,
                     int m, far_pixel *far, int *found)
{
    int have = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || counts[labels[i]] <= 1)
            continue;
        float v = dist[i];
        if (have == m && !(v > far[m - 1].dist))
            continue;
        int p = have < m ? have++ : m - 1;
        while (p > 0 && far[p - 1].dist < v) {
            far[p] = far[p - 1];
            p--;
        }
        far[p].dist = v;
        far[p].row = i;
    }
    *found = have;
}

/* Reduces the chunk partials into sums (k × d) and counts (k), then re-seeds empty clusters
 * with the pixels farthest from their centroid c (the centroids of the pass; dist is scratch);
 * *moved counts the pixels given to them. */
static cn_status reduce(kwork *w, const float *x, const float *c, const int32_t *labels,
                        float *dist, double *sums, int64_t *counts, int *moved)
{
    *moved = 0;
    const int k = w->k, d = w->d;
    const size_t kd = (size_t)k * (size_t)d;
    memset(sums, 0, kd * sizeof *sums);
    memset(counts, 0, (size_t)k * sizeof *counts);
    for (int64_t ch = 0; ch < w->plan.nchunks; ch++) {
        const double *s = w->sums + (size_t)ch * kd;
        const int64_t *n = w->counts + (size_t)ch * (size_t)k;
        for (size_t i = 0; i < kd; i++)
            sums[i] += s[i];
        for (int j = 0; j < k; j++)
            counts[j] += n[j];
    }
    int empty = 0;
    for (int j = 0; j < k; j++)
        empty += counts[j] == 0;
    if (empty == 0)
        return CN_OK;
    far_pixel *far = malloc((size_t)empty * sizeof *far);
    if (!far)
        return cn_set_error(CN_ENOMEM, "k-means: out of memory");
    kpass_distances(w, x, c, labels, dist); /* only now: empty clusters are rare */
    int found;
    farthest(dist, labels, w->plan.n, counts, empty, far, &found);
    for (int j = 0, f = 0; j < k && f < found; j++) {
        if (counts[j] != 0)
            continue;
        for (; f < found; f++) {
            int64_t row = far[f].row;
            int old = labels[row];
            if (counts[old] <= 1)
                continue; /* taking it would empty its cluster */
            const float *xr = x + (size_t)row * (size_t)d;
            for (int q = 0; q < d; q++) {
                sums[(size_t)old * (size_t)d + (size_t)q] -= xr[q];
                sums[(size_t)j * (size_t)d + (size_t)q] = xr[q];
            }
            counts[old]--;
            counts[j] = 1;
            ++*moved;
            f++;
            break;
        }
    }
    free(far);
    return CN_OK;
}

/* c ← sums / counts (clusters still empty keep their centroid); returns Σ squared shifts. */
static double update(int k, int d, const double *sums, const int64_t *counts, float *c)
{
    double shift = 0;
    for (int j = 0; j < k; j++) {
        if (counts[j] == 0)
            continue;
        float *cj = c + (size_t)j * (size_t)d;
        const double *sj = sums + (size_t)j * (size_t)d;
        for (int q = 0; q < d; q++) {
            float v = (float)(sj[q] / (double)counts[j]);
            double t = (double)v - cj[q];
            shift += t * t;
            cj[q] = v;
        }
    }
    return shift;
}

static void totals(const kwork *w, double *inertia, int64_t *changed)
{
    double s = 0;
    int64_t ch = 0;
    for (int64_t i = 0; i < w->plan.nchunks; i++) {
        s += w->cinertia[i];
        ch += w->cchanged[i];
    }
    *inertia = s;
    *changed = ch;
}

cn_status kmeans_lloyd(kwork *w, const float *x, float *c, int32_t *labels, int max_iter,
                       double tol_abs, const cn_kmeans_options *o, int run, klloyd_result *res)
{
    const int k = w->k, d = w->d;
    const int64_t n = w->plan.n;
    double *sums = malloc((size_t)k * (size_t)d * sizeof *sums);
    int64_t *counts = malloc((size_t)k * sizeof *counts);
    float *dist = malloc((size_t)n * sizeof *dist);
    cn_status st = CN_OK;
    if (!sums || !counts || !dist) {
        st = cn_set_error(CN_ENOMEM, "k-means: out of memory for %lld pixels", (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        labels[i] = -1;
    double inertia = 0;
    int64_t changed;
    int it = 0;
    while (it < max_iter) {
        kpass_assign(w, x, c, labels, NULL, KPASS_LLOYD);
        totals(w, &inertia, &changed);
        int moved;
        if ((st = reduce(w, x, c, labels, dist, sums, counts, &moved)))
            goto done;
        double shift = update(k, d, sums, counts, c);
        it++;
        if (changed == 0 && moved == 0)
            break; /* strict convergence: same labels, same sums, the centroids did not move */
        if (shift <= tol_abs)
            break;
        if (!kmeans_progress(o, run, o->init == CN_KMEANS_INIT_GIVEN ? 1 : o->n_init,
                             (double)it / max_iter)) {
            st = cn_set_error(CN_ECANCELLED, "k-means: cancelled");
            goto done;
        }
    }
    kpass_assign(w, x, c, labels, NULL, KPASS_PREDICT);
    totals(w, &inertia, &changed);
    res->inertia = inertia;
    res->iterations = it;
done:
    free(sums);
    free(counts);
    free(dist);
    return st;
}

cn_status cn_kmeans_predict(const cn_kmeans *km, const float *x, int64_t n, int d, int threads,
                            int32_t *labels, float *distances, double *inertia)
{
    if (!km || (!x && n > 0) || (!labels && n > 0) || n < 0)
        return cn_set_error(CN_EINVAL, "k-means predict: NULL argument");
    if (!km->centroids)
        return cn_set_error(CN_EINVAL, "k-means predict: the model has no centroids yet");
    if (d != km->d)
        return cn_set_error(CN_ESHAPE, "k-means predict: the pixels have %d band%s, the model "
                            "has %d", d, d == 1 ? "" : "s", km->d);
    if (inertia)
        *inertia = 0;
    if (n == 0)
        return CN_OK;
    kwork w;
    cn_status st = kwork_new(n, d, km->k, km->k, threads, CN_KMEANS_SPLIT_PIXELS, &w);
    if (st)
        return st;
    for (int64_t i = 0; i < n; i++)
        labels[i] = -1; /* the pass counts changes against what labels held */
    kpass_assign(&w, x, km->centroids, labels, distances, KPASS_PREDICT);
    if (inertia) {
        int64_t changed;
        totals(&w, inertia, &changed);
    }
    kwork_free(&w);
    return CN_OK;
}
