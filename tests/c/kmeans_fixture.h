/*
 * kmeans_fixture.h — data for the k-means tests: Gaussian blobs around known centres, and a plain
 * double-precision Lloyd that the fused sgemm kernel is compared with.
 */
#ifndef CROPNET_KMEANS_FIXTURE_H
#define CROPNET_KMEANS_FIXTURE_H

#include "cropnet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* n points in d bands around `blobs` centres spaced `spacing` apart along a diagonal, with unit
 * noise; truth[i] (may be NULL) = the blob of point i. malloc'd. */
static inline float *kfix_blobs(int64_t n, int d, int blobs, float spacing, uint64_t seed,
                                int32_t *truth)
{
    float *x = malloc((size_t)n * (size_t)d * sizeof *x);
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) {
        int b = (int)(i % blobs);
        if (truth)
            truth[i] = b;
        for (int f = 0; f < d; f++)
            x[i * d + f] = spacing * (float)b * (f % 2 ? 1.0f : -0.5f) + (float)cn_rng_normal(&rng);
    }
    return x;
}

/* The centroid of c (k × d) nearest to the point p (d values) in double, the first of equals;
 * *dist (may be NULL) = its squared distance. */
static inline int kfix_nearest(const float *p, int d, const float *c, int k, double *dist)
{
    int best = 0;
    double bd = INFINITY;
    for (int j = 0; j < k; j++) {
        double s = 0;
        for (int f = 0; f < d; f++) {
            double t = (double)p[f] - c[j * d + f];
            s += t * t;
        }
        if (s < bd) {
            bd = s;
            best = j;
        }
    }
    if (dist)
        *dist = bd;
    return best;
}

/* Lloyd in double, scikit-learn's loop: from c (k × d, updated) until no label changes, the
 * squared shift <= tol_abs or max_iter. Returns the iterations; labels and *inertia are those of
 * the final centroids. Empty clusters keep their centroid (tests using it avoid them). */
static inline int kfix_lloyd(const float *x, int64_t n, int d, int k, float *c, int max_iter,
                             double tol_abs, int32_t *labels, double *inertia)
{
    double *sums = calloc((size_t)k * (size_t)d, sizeof *sums);
    int64_t *counts = calloc((size_t)k, sizeof *counts);
    int32_t *old = malloc((size_t)n * sizeof *old);
    for (int64_t i = 0; i < n; i++)
        old[i] = -1;
    int it = 0;
    bool strict = false;
    while (it < max_iter) {
        memset(sums, 0, (size_t)k * (size_t)d * sizeof *sums);
        memset(counts, 0, (size_t)k * sizeof *counts);
        int64_t changed = 0;
        for (int64_t i = 0; i < n; i++) {
            int best = kfix_nearest(x + i * d, d, c, k, NULL);
            labels[i] = best;
            changed += old[i] != best;
            counts[best]++;
            for (int f = 0; f < d; f++)
                sums[best * d + f] += x[i * d + f];
        }
        double shift = 0;
        for (int j = 0; j < k; j++)
            for (int f = 0; counts[j] && f < d; f++) {
                float v = (float)(sums[j * d + f] / (double)counts[j]);
                shift += ((double)v - c[j * d + f]) * ((double)v - c[j * d + f]);
                c[j * d + f] = v;
            }
        it++;
        memcpy(old, labels, (size_t)n * sizeof *old);
        if (changed == 0) {
            strict = true;
            break;
        }
        if (shift <= tol_abs)
            break;
    }
    (void)strict;
    *inertia = 0;
    for (int64_t i = 0; i < n; i++) { /* final labels for the final centroids */
        double bd;
        labels[i] = kfix_nearest(x + i * d, d, c, k, &bd);
        *inertia += bd;
    }
    free(sums);
    free(counts);
    free(old);
    return it;
}

#endif
