/*
 * kmeans_init.c — initial centroids: k-means++ (greedy, as scikit-learn), k distinct random
 * pixels, or the caller's centroids.
 *
 * k-means++ as in scikit-learn's _kmeans_plusplus: the first centre is a pixel drawn uniformly;
 * each next one is the best of 2 + floor(ln k) candidates drawn with probability proportional to
 * the squared distance D(x)² to the nearest centre so far, "best" meaning the lowest potential
 * Σ min(D(x)², ‖x − candidate‖²). Drawing searches the cumulative sum of D(x)²: the per-chunk
 * potentials of the previous pass locate the chunk, and the chunk is scanned in the same order
 * its potential was summed in.
 */
#include "kmeans_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* First row index whose running sum of closest reaches r (numpy's searchsorted, side left),
 * clipped to the last row. */
static int64_t draw(const kwork *w, const float *closest, const double *chunk_pot, double r)
{
    double base = 0;
    int64_t c = 0;
    for (; c + 1 < w->plan.nchunks && base + chunk_pot[c] < r; c++)
        base += chunk_pot[c];
    const int64_t r0 = c * w->plan.chunk;
    const int64_t r1 = r0 + w->plan.chunk < w->plan.n ? r0 + w->plan.chunk : w->plan.n;
    double sum = base;
    for (int64_t i = r0; i < r1; i++) {
        sum += closest[i];
        if (sum >= r)
            return i;
    }
    return r1 - 1;
}

static cn_status plusplus(kwork *w, const float *x, cn_rng *rng, float *c)
{
    const int64_t n = w->plan.n, nc = w->plan.nchunks;
    const int d = w->d, k = w->k;
    const int t = 2 + (int)log((double)k);
    if ((uint64_t)n > SIZE_MAX / sizeof(float) / (uint64_t)(t + 2))
        return cn_set_error(CN_EOVERFLOW, "k-means++: %lld pixels is too many", (long long)n);
    float *closest = malloc((size_t)n * (size_t)(t + 1) * sizeof *closest);
    int32_t *near = malloc((size_t)n * sizeof *near);
    float *cand = malloc((size_t)t * (size_t)d * sizeof *cand);
    float *ccd = malloc((size_t)t * (size_t)k * sizeof *ccd);
    double *chunk_pot = malloc((size_t)nc * sizeof *chunk_pot);
    cn_status st = CN_OK;
    if (!closest || !near || !cand || !ccd || !chunk_pot) {
        st = cn_set_error(CN_ENOMEM, "k-means++: out of memory for %lld pixels", (long long)n);
        goto done;
    }
    float *out = closest + n; /* t rows of n */
    int64_t first = (int64_t)cn_rng_below(rng, (uint64_t)n);
    memcpy(c, x + (size_t)first * (size_t)d, (size_t)d * sizeof *c);
    kpass_candidates(w, x, NULL, NULL, c, 1, NULL, 0, closest);
    memset(near, 0, (size_t)n * sizeof *near);
    double total = 0;
    for (int64_t ch = 0; ch < nc; ch++)
        total += chunk_pot[ch] = w->cpot[(size_t)ch * (size_t)w->width];
    for (int j = 1; j < k; j++) {
        for (int l = 0; l < t; l++) {
            int64_t i = draw(w, closest, chunk_pot, cn_rng_uniform(rng) * total);
            const float *xi = x + (size_t)i * (size_t)d;
            memcpy(cand + (size_t)l * (size_t)d, xi, (size_t)d * sizeof *cand);
            for (int q = 0; q < j; q++)
                ccd[(size_t)l * (size_t)j + (size_t)q] =
                    kmeans_sqdist(xi, c + (size_t)q * (size_t)d, d);
        }
        kpass_candidates(w, x, closest, near, cand, t, ccd, j, out);
        int best = 0;
        double best_pot = INFINITY;
        for (int l = 0; l < t; l++) {
            double pot = 0;
            for (int64_t ch = 0; ch < nc; ch++)
                pot += w->cpot[(size_t)ch * (size_t)w->width + (size_t)l];
            if (pot < best_pot) {
                best_pot = pot;
                best = l;
            }
        }
        memcpy(c + (size_t)j * (size_t)d, cand + (size_t)best * (size_t)d,
               (size_t)d * sizeof *c);
        const float *won = out + (size_t)best * (size_t)n;
        for (int64_t i = 0; i < n; i++)
            if (won[i] < closest[i]) {
                closest[i] = won[i];
                near[i] = j;
            }
        for (int64_t ch = 0; ch < nc; ch++)
            chunk_pot[ch] = w->cpot[(size_t)ch * (size_t)w->width + (size_t)best];
        total = best_pot;
    }
done:
    free(closest);
    free(near);
    free(cand);
    free(ccd);
    free(chunk_pot);
    return st;
}

/* k distinct rows by Floyd's algorithm, membership in a small open-addressing set. */
cn_status kmeans_random_rows(int64_t n, int64_t k, const float *x, int d, cn_rng *rng, float *c)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)k)
        cap *= 2;
    int64_t *set = cap <= SIZE_MAX / sizeof(int64_t) ? malloc(cap * sizeof *set) : NULL;
    if (!set)
        return cn_set_error(CN_ENOMEM, "k-means: out of memory");
    for (size_t i = 0; i < cap; i++)
        set[i] = -1;
    int64_t j = 0;
    for (int64_t m = n - k; m < n; m++) {
        int64_t pick = (int64_t)cn_rng_below(rng, (uint64_t)m + 1);
        for (int pass = 0; pass < 2; pass++) {
            size_t h = ((uint64_t)pick * 0x9e3779b97f4a7c15ULL) & (cap - 1);
            while (set[h] != -1 && set[h] != pick)
                h = (h + 1) & (cap - 1);
            if (set[h] == -1) {
                set[h] = pick;
                break;
            }
            pick = m; /* taken already: Floyd takes m, never taken before */
        }
        memcpy(c + (size_t)j++ * (size_t)d, x + (size_t)pick * (size_t)d,
               (size_t)d * sizeof *c);
    }
    free(set);
    return CN_OK;
}

cn_status kmeans_init_centroids(kwork *w, const float *x, const cn_kmeans_options *o,
                                cn_rng *rng, float *c)
{
    switch (o->init) {
    case CN_KMEANS_INIT_PLUSPLUS:
        return plusplus(w, x, rng, c);
    case CN_KMEANS_INIT_RANDOM:
        return kmeans_random_rows(w->plan.n, w->k, x, w->d, rng, c);
    case CN_KMEANS_INIT_GIVEN:
        memcpy(c, o->init_centroids, (size_t)w->k * (size_t)w->d * sizeof *c);
        return CN_OK;
    }
    return cn_set_error(CN_EINVAL, "k-means: unknown initialisation %d", (int)o->init);
}
