/*
 * kmeans_pass.c — the passes over the pixels that every k-means algorithm is made of, and the
 * plan and workspace they run in.
 *
 * The assignment pass is the hot loop of Lloyd and of predict. For a block of pixels (about
 * 256 KiB, so it stays in cache) one sgemm gives −2·x·c for every centroid; adding ‖c‖² gives the
 * distance up to ‖x‖², which does not change the argmin. While the block's rows are still in
 * cache, each row is added to its centroid's running sum and its exact squared distance
 * Σ(x − c)² is taken in double (the sgemm form loses digits when ‖x‖ is large next to the
 * distance: the inertia and the farthest points want the exact one). Sums, counts and inertia are
 * kept per chunk and added in chunk order afterwards, so results do not depend on the threads.
 *
 * k-means++ compares a handful of candidates with every pixel: a pass that reads each pixel once
 * and computes the exact distances directly, as cheap as the sgemm form for so few candidates
 * and free of its cancellation (scikit-learn upcasts to float64 for the same reason).
 */
#include "kmeans_impl.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN 4096
#define CHUNK_MAX_COUNT 64
#define BLOCK_FLOATS 65536 /* 256 KiB of pixels per sgemm call */

void kplan_init(kplan *p, int64_t n, int d)
{
    p->n = n;
    p->d = d;
    int64_t block = BLOCK_FLOATS / (d > 0 ? d : 1);
    if (block < 64)
        block = 64;
    if (block > 4096)
        block = 4096;
    int64_t chunk = (n + CHUNK_MAX_COUNT - 1) / CHUNK_MAX_COUNT;
    if (chunk < CHUNK_MIN)
        chunk = CHUNK_MIN;
    chunk = (chunk + block - 1) / block * block;
    p->block = block;
    p->chunk = chunk;
    p->nchunks = n > 0 ? (n + chunk - 1) / chunk : 0;
}

cn_status kwork_new(int64_t n, int d, int k, int width, int threads, cn_kmeans_threading how,
                    kwork *w)
{
    memset(w, 0, sizeof *w);
    kplan_init(&w->plan, n, d);
    w->k = k;
    w->d = d;
    w->width = width > k ? width : k;
    w->blas_threads = how == CN_KMEANS_SPLIT_BLAS;
    if (threads <= 0)
        threads = cn_get_threads();
    int64_t rows = w->blas_threads ? w->plan.chunk : w->plan.block;
    /* room for the chunks of any n' <= n (kwork_set_rows): every chunk is at least c0 rows and
     * there are never more than CHUNK_MAX_COUNT */
    int64_t c0 = (CHUNK_MIN + w->plan.block - 1) / w->plan.block * w->plan.block;
    int64_t nc = (n + c0 - 1) / c0;
    if (nc > CHUNK_MAX_COUNT)
        nc = CHUNK_MAX_COUNT;
    if (nc < 1)
        nc = 1;
    /* k, d, width are ints and nc <= 64 (or 1): nc·k·d < 2^69 needs a check, the rest not */
    if ((uint64_t)k * (uint64_t)d > (uint64_t)(SIZE_MAX / sizeof(double)) / (uint64_t)nc)
        return cn_set_error(CN_EOVERFLOW, "k-means: %d clusters x %d bands is too large", k, d);
    cn_status st = kpool_new(w->blas_threads ? 1 : threads, &w->pool);
    if (st)
        return st;
    int workers = kpool_threads(w->pool);
    w->scratch = calloc((size_t)workers, sizeof *w->scratch);
    w->sums = malloc((size_t)nc * (size_t)k * (size_t)d * sizeof *w->sums);
    w->counts = malloc((size_t)nc * (size_t)k * sizeof *w->counts);
    w->cinertia = malloc((size_t)nc * sizeof *w->cinertia);
    w->cchanged = malloc((size_t)nc * sizeof *w->cchanged);
    w->cpot = malloc((size_t)nc * (size_t)w->width * sizeof *w->cpot);
    w->cnorm = malloc((size_t)w->width * sizeof *w->cnorm);
    w->cxx = malloc((size_t)nc * (size_t)k * sizeof *w->cxx);
    bool ok = w->scratch && w->sums && w->counts && w->cinertia && w->cchanged && w->cpot &&
              w->cnorm && w->cxx;
    for (int i = 0; ok && i < workers; i++)
        ok = (w->scratch[i] = malloc((size_t)rows * (size_t)w->width * sizeof(float))) != NULL;
    if (!ok) {
        kwork_free(w);
        return cn_set_error(CN_ENOMEM, "k-means: out of memory for the work buffers (%d "
                            "clusters, %d bands)", k, d);
    }
    w->cap_chunks = nc;
    w->cap_rows = rows;
    w->saved_threads = cn_get_threads();
    cn_set_threads(w->blas_threads ? threads : 1);
    return CN_OK;
}

void kwork_set_rows(kwork *w, int64_t n)
{
    kplan p;
    kplan_init(&p, n, w->d);
    /* fewer rows never need more chunks (see kwork_new) nor longer ones (chunks grow with n) */
    assert(p.nchunks <= w->cap_chunks && (w->blas_threads ? p.chunk : p.block) <= w->cap_rows);
    w->plan = p;
}

void kwork_free(kwork *w)
{
    if (w->saved_threads > 0)
        cn_set_threads(w->saved_threads);
    if (w->scratch)
        for (int i = 0; i < kpool_threads(w->pool); i++)
            free(w->scratch[i]);
    kpool_free(w->pool);
    free(w->scratch);
    free(w->sums);
    free(w->counts);
    free(w->cinertia);
    free(w->cchanged);
    free(w->cpot);
    free(w->cnorm);
    free(w->cxx);
    free(w->xx);
    memset(w, 0, sizeof *w);
}

/* Squared distance in float with sixteen partial sums added in a fixed order: vectorises without
 * reassociation, so every machine and clone gives the same bits. Differences are squared before
 * summing: no cancellation, unlike the sgemm form. */
static inline float sqdist(const float *x, const float *c, int d)
{
    float acc[32] = {0}; /* two vectors of sixteen: two independent addition chains */
    int f = 0;
    for (; f + 32 <= d; f += 32)
        for (int u = 0; u < 32; u++) {
            float t = x[f + u] - c[f + u];
            acc[u] += t * t;
        }
    for (; f + 16 <= d; f += 16)
        for (int u = 0; u < 16; u++) {
            float t = x[f + u] - c[f + u];
            acc[u] += t * t;
        }
    if (f < d) { /* the tail zero-padded to a full vector, so it vectorises too */
        float xt[16] = {0}, ct[16] = {0};
        memcpy(xt, x + f, (size_t)(d - f) * sizeof *xt);
        memcpy(ct, c + f, (size_t)(d - f) * sizeof *ct);
        for (int u = 0; u < 16; u++) {
            float t = xt[u] - ct[u];
            acc[16 + u] += t * t;
        }
    }
    for (int h = 16; h > 0; h /= 2)
        for (int u = 0; u < h; u++)
            acc[u] += acc[u + h];
    return acc[0];
}

/* ---------------------------------------------------------------- assignment */

typedef struct assign_ctx {
    kwork *w;
    const float *x, *c;
    int32_t *labels;
    float *dist;
    kpass_mode mode;
} assign_ctx;

typedef struct row_totals {
    double inertia;
    int64_t changed;
} row_totals;

/* Lloyd rows of one block after its sgemm: argmin, centroid sums, Σ‖x‖² per cluster, and
 * ‖x‖² + min(‖c‖² − 2x·c) as the distance used to find the farthest pixels. */
KM_CLONES
static void lloyd_rows(const float *g, int64_t m, int k, const float *cnorm, const float *x,
                       const double *xx, int d, int32_t *labels, float *dist, double *sums,
                       int64_t *counts, double *xxsum, row_totals *tot)
{
    for (int64_t i = 0; i < m; i++, g += k, x += d) {
        int best = 0;
        float bd = g[0] + cnorm[0];
        for (int j = 1; j < k; j++) {
            float v = g[j] + cnorm[j];
            if (v < bd) { /* strict: ties go to the lowest index, as scikit-learn */
                bd = v;
                best = j;
            }
        }
        tot->changed += labels[i] != best;
        labels[i] = best;
        dist[i] = (float)(xx[i] + bd);
        double *sr = sums + (size_t)best * (size_t)d;
        for (int f = 0; f < d; f++)
            sr[f] += x[f];
        counts[best]++;
        xxsum[best] += xx[i];
    }
}

/* Prediction rows: argmin, exact distance; a row whose distance is not finite (a NaN or
 * infinite band) gets -1. */
KM_CLONES
static void predict_rows(const float *g, int64_t m, int k, const float *cnorm, const float *x,
                         int d, const float *c, int32_t *labels, float *dist, row_totals *tot)
{
    for (int64_t i = 0; i < m; i++, g += k, x += d) {
        int best = 0;
        float bd = g[0] + cnorm[0];
        for (int j = 1; j < k; j++) {
            float v = g[j] + cnorm[j];
            if (v < bd) {
                bd = v;
                best = j;
            }
        }
        float s = sqdist(x, c + (size_t)best * (size_t)d, d);
        if (!isfinite(s)) {
            best = -1;
            s = NAN;
        } else {
            tot->inertia += s;
        }
        tot->changed += labels[i] != best;
        labels[i] = best;
        if (dist)
            dist[i] = s;
    }
}

static void assign_task(void *vctx, int64_t chunk, int worker)
{
    const assign_ctx *a = vctx;
    kwork *w = a->w;
    const int k = w->k, d = w->d;
    const int64_t r0 = chunk * w->plan.chunk;
    const int64_t r1 = r0 + w->plan.chunk < w->plan.n ? r0 + w->plan.chunk : w->plan.n;
    const int64_t block = w->blas_threads ? w->plan.chunk : w->plan.block;
    const bool lloyd = a->mode == KPASS_LLOYD;
    double *sums = w->sums + (size_t)chunk * (size_t)k * (size_t)d;
    int64_t *counts = w->counts + (size_t)chunk * (size_t)k;
    double *xxsum = w->cxx + (size_t)chunk * (size_t)k;
    if (lloyd) {
        memset(sums, 0, (size_t)k * (size_t)d * sizeof *sums);
        memset(counts, 0, (size_t)k * sizeof *counts);
        memset(xxsum, 0, (size_t)k * sizeof *xxsum);
    }
    row_totals tot = {0, 0};
    float *g = w->scratch[worker];
    for (int64_t b = r0; b < r1; b += block) {
        int64_t m = r1 - b < block ? r1 - b : block;
        const float *xb = a->x + (size_t)b * (size_t)d;
        cn_gemm(false, true, m, k, d, -2.0f, xb, d, a->c, d, 0.0f, g, k);
        if (lloyd)
            lloyd_rows(g, m, k, w->cnorm, xb, w->xx + b, d, a->labels + b, a->dist + b, sums,
                       counts, xxsum, &tot);
        else
            predict_rows(g, m, k, w->cnorm, xb, d, a->c, a->labels + b,
                         a->dist ? a->dist + b : NULL, &tot);
    }
    w->cinertia[chunk] = tot.inertia;
    w->cchanged[chunk] = tot.changed;
}

void kpass_assign(kwork *w, const float *x, const float *c, int32_t *labels, float *dist,
                  kpass_mode mode)
{
    for (int j = 0; j < w->k; j++) {
        const float *cj = c + (size_t)j * (size_t)w->d;
        float s = 0;
        for (int f = 0; f < w->d; f++)
            s += cj[f] * cj[f];
        w->cnorm[j] = s;
    }
    assign_ctx a = {w, x, c, labels, dist, mode};
    kpool_run(w->pool, w->plan.nchunks, assign_task, &a);
}

double kpass_lloyd_inertia(const kwork *w, const float *c)
{
    const int k = w->k, d = w->d;
    double total = 0;
    for (int j = 0; j < k; j++) {
        double xx = 0, cs = 0, cc = 0;
        int64_t n = 0;
        const float *cj = c + (size_t)j * (size_t)d;
        for (int64_t ch = 0; ch < w->plan.nchunks; ch++) {
            xx += w->cxx[(size_t)ch * (size_t)k + (size_t)j];
            n += w->counts[(size_t)ch * (size_t)k + (size_t)j];
        }
        for (int f = 0; f < d; f++) {
            double s = 0;
            for (int64_t ch = 0; ch < w->plan.nchunks; ch++)
                s += w->sums[((size_t)ch * (size_t)k + (size_t)j) * (size_t)d + (size_t)f];
            cs += (double)cj[f] * s;
            cc += (double)cj[f] * cj[f];
        }
        double e = xx - 2 * cs + (double)n * cc;
        total += e > 0 ? e : 0;
    }
    return total;
}

/* ---------------------------------------------------------------- squared norms */

typedef struct norm_ctx {
    kwork *w;
    const float *x;
} norm_ctx;

KM_CLONES
static void norm_rows(const float *x, int64_t m, int d, double *xx)
{
    for (int64_t i = 0; i < m; i++, x += d) {
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int f = 0;
        for (; f + 8 <= d; f += 8)
            for (int u = 0; u < 8; u++)
                acc[u] += (double)x[f + u] * x[f + u];
        for (int u = 0; f < d; f++, u++)
            acc[u] += (double)x[f] * x[f];
        xx[i] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
}

static void norm_task(void *vctx, int64_t chunk, int worker)
{
    (void)worker;
    const norm_ctx *a = vctx;
    kwork *w = a->w;
    const int64_t r0 = chunk * w->plan.chunk;
    const int64_t r1 = r0 + w->plan.chunk < w->plan.n ? r0 + w->plan.chunk : w->plan.n;
    norm_rows(a->x + (size_t)r0 * (size_t)w->d, r1 - r0, w->d, w->xx + r0);
}

cn_status kpass_norms(kwork *w, const float *x)
{
    free(w->xx);
    if (!(w->xx = malloc((size_t)(w->plan.n > 0 ? w->plan.n : 1) * sizeof *w->xx)))
        return cn_set_error(CN_ENOMEM, "k-means: out of memory for %lld pixels",
                            (long long)w->plan.n);
    norm_ctx a = {w, x};
    kpool_run(w->pool, w->plan.nchunks, norm_task, &a);
    return CN_OK;
}

/* ---------------------------------------------------------------- k-means++ candidates */

typedef struct cand_ctx {
    kwork *w;
    const float *x, *closest, *cand, *ccd;
    const int32_t *near;
    int t, ncent;
    float *out;
} cand_ctx;

KM_CLONES
static void cand_rows(const float *x, int64_t r0, int64_t r1, int d, const float *closest,
                      const int32_t *near, const float *cand, int t, const float *ccd, int ncent,
                      float *out, int64_t n, double *pot)
{
    for (int64_t i = r0; i < r1; i++) {
        const float *xi = x + (size_t)i * (size_t)d;
        /* ‖x − cand‖ >= ‖cand − c‖ − ‖x − c‖ >= ‖x − c‖ when ‖cand − c‖² >= 4‖x − c‖², c the
         * nearest centre: the candidate cannot come closer, and x is not read (the margin
         * covers rounding) */
        const float cl = closest ? closest[i] : INFINITY;
        const float lim = 4.0f * cl * 1.0001f;
        const float *row = closest ? ccd + near[i] : NULL;
        for (int l = 0; l < t; l++) {
            float s = cl;
            if (!closest || !(row[(size_t)l * (size_t)ncent] > lim)) {
                float v = sqdist(xi, cand + (size_t)l * (size_t)d, d);
                s = v < s ? v : s;
            }
            out[(size_t)l * (size_t)n + (size_t)i] = s;
            pot[l] += s;
        }
    }
}

static void cand_task(void *vctx, int64_t chunk, int worker)
{
    (void)worker;
    const cand_ctx *a = vctx;
    kwork *w = a->w;
    const int64_t r0 = chunk * w->plan.chunk;
    const int64_t r1 = r0 + w->plan.chunk < w->plan.n ? r0 + w->plan.chunk : w->plan.n;
    double *pot = w->cpot + (size_t)chunk * (size_t)w->width;
    for (int l = 0; l < a->t; l++)
        pot[l] = 0;
    cand_rows(a->x, r0, r1, w->d, a->closest, a->near, a->cand, a->t, a->ccd, a->ncent, a->out,
              w->plan.n, pot);
}

void kpass_candidates(kwork *w, const float *x, const float *closest, const int32_t *near,
                      const float *cand, int t, const float *ccd, int ncent, float *out)
{
    cand_ctx a = {w, x, closest, cand, ccd, near, t, ncent, out};
    kpool_run(w->pool, w->plan.nchunks, cand_task, &a);
}

float kmeans_sqdist(const float *x, const float *c, int d) { return sqdist(x, c, d); }

/* ---------------------------------------------------------------- variance */

typedef struct var_ctx {
    kwork *w;
    const float *x;
    const double *mean; /* NULL in the first pass */
} var_ctx;

KM_CLONES
static void var_rows(const float *x, int64_t m, int d, const double *mean, double *acc)
{
    for (int64_t i = 0; i < m; i++, x += d)
        if (mean)
            for (int f = 0; f < d; f++) {
                double t = x[f] - mean[f];
                acc[f] += t * t;
            }
        else
            for (int f = 0; f < d; f++)
                acc[f] += x[f];
}

static void var_task(void *vctx, int64_t chunk, int worker)
{
    (void)worker;
    const var_ctx *a = vctx;
    kwork *w = a->w;
    const int64_t r0 = chunk * w->plan.chunk;
    const int64_t r1 = r0 + w->plan.chunk < w->plan.n ? r0 + w->plan.chunk : w->plan.n;
    double *acc = w->sums + (size_t)chunk * (size_t)w->d;
    memset(acc, 0, (size_t)w->d * sizeof *acc);
    var_rows(a->x + (size_t)r0 * (size_t)w->d, r1 - r0, w->d, a->mean, acc);
}

cn_status kpass_mean_variance(kwork *w, const float *x, double *out)
{
    const int d = w->d;
    const int64_t n = w->plan.n;
    double *mean = calloc((size_t)d * 2, sizeof *mean), *var = mean ? mean + d : NULL;
    if (!mean)
        return cn_set_error(CN_ENOMEM, "k-means: out of memory");
    var_ctx a = {w, x, NULL};
    kpool_run(w->pool, w->plan.nchunks, var_task, &a);
    for (int64_t c = 0; c < w->plan.nchunks; c++)
        for (int f = 0; f < d; f++)
            mean[f] += w->sums[(size_t)c * (size_t)d + (size_t)f];
    for (int f = 0; f < d; f++)
        mean[f] /= (double)n;
    a.mean = mean;
    kpool_run(w->pool, w->plan.nchunks, var_task, &a);
    for (int64_t c = 0; c < w->plan.nchunks; c++)
        for (int f = 0; f < d; f++)
            var[f] += w->sums[(size_t)c * (size_t)d + (size_t)f];
    double total = 0;
    for (int f = 0; f < d; f++)
        total += var[f] / (double)n;
    free(mean);
    *out = total / d;
    return CN_OK;
}
