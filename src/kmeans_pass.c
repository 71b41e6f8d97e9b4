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

void kplan_init(kplan *p, int64_t n, int d, int k)
{
    p->n = n;
    p->d = d;
    /* OpenBLAS (0.3.21, SkylakeX kernels) multiplies small products without packing them first:
     * M·N·K <= 10^6 and, with our layout (its A transposed), M·N <= 1200 and K >= 32. Our
     * products are tall and narrow (rows × k × d) and packing the rows costs as much as the
     * product, so when k and d allow, blocks of 1200 / k rows take that path (about 15% fewer
     * profile samples per Lloyd iteration at k = 16, d = 204 than 256 KiB blocks); otherwise
     * blocks of about 256 KiB of pixels keep the packed path's call overhead low. */
    int64_t small = k > 0 ? 1200 / k / 8 * 8 : 0;
    if (small * k * (int64_t)d > 1000000)
        small = 1000000 / ((int64_t)k * d) / 8 * 8;
    int64_t block = d >= 32 && small >= 16 ? small : BLOCK_FLOATS / (d > 0 ? d : 1);
    if (block < 16)
        block = 16;
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
    kplan_init(&w->plan, n, d, k);
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
        ok = (w->scratch[i] = malloc(((size_t)rows * (size_t)w->width + (size_t)k * (size_t)d +
                                      (size_t)k) * sizeof(float))) != NULL;
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
    kplan_init(&p, n, w->d, w->k);
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
    for (int u = 16; f < d; f++, u++) { /* the tail: independent scalar chains */
        float t = x[f] - c[f];
        acc[u] += t * t;
    }
    for (int h = 16; h > 0; h /= 2)
        for (int u = 0; u < h; u++)
            acc[u] += acc[u + h];
    return acc[0];
}

/* ---------------------------------------------------------------- assignment */

/* The index of the smallest g[j] + cnorm[j] (the first one on ties, as scikit-learn's strict
 * comparison) and that value. Eight running minima, then a tree, then the first index that
 * holds the minimum: no chain of k dependent compare-and-selects. A row of NaN (an invalid
 * pixel) gives 0 and +inf. */
static inline int argmin_row(const float *g, const float *cnorm, int k, float *v, float *min)
{
    float lane[8] = {INFINITY, INFINITY, INFINITY, INFINITY,
                     INFINITY, INFINITY, INFINITY, INFINITY};
    int j = 0;
    for (; j + 8 <= k; j += 8)
        for (int u = 0; u < 8; u++) {
            float x = g[j + u] + cnorm[j + u];
            v[j + u] = x;
            lane[u] = x < lane[u] ? x : lane[u];
        }
    for (int u = 0; j < k; j++, u++) {
        float x = g[j] + cnorm[j];
        v[j] = x;
        lane[u] = x < lane[u] ? x : lane[u];
    }
    for (int h = 4; h > 0; h /= 2)
        for (int u = 0; u < h; u++)
            lane[u] = lane[u + h] < lane[u] ? lane[u + h] : lane[u];
    *min = lane[0];
    for (j = 0; j < k; j++)
        if (v[j] == lane[0])
            return j;
    return 0;
}

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
 * ‖x‖² + min(‖c‖² − 2x·c) as the distance used to find the farthest pixels. Sums are taken in
 * float (sixteen lanes) over at most 64 rows, then added to the chunk's double sums. */
KM_CLONES
static void lloyd_rows(const float *g, int64_t m, int k, const float *cnorm, const float *x,
                       const double *xx, int d, int32_t *labels, float *dist, double *sums,
                       float *bsum, float *vbuf, int64_t *counts, double *xxsum, row_totals *tot)
{
    const size_t kd = (size_t)k * (size_t)d;
    memset(bsum, 0, kd * sizeof *bsum);
    for (int64_t i = 0; i < m; i++, g += k, x += d) {
        if (i > 0 && i % 64 == 0) /* flush: float sums of at most 64 rows keep ~1e-7 */
            for (size_t q = 0; q < kd; q++) {
                sums[q] += bsum[q];
                bsum[q] = 0;
            }
        float bd;
        int best = argmin_row(g, cnorm, k, vbuf, &bd);
        tot->changed += labels[i] != best;
        labels[i] = best;
        dist[i] = (float)(xx[i] + bd);
        float *sr = bsum + (size_t)best * (size_t)d;
        for (int f = 0; f < d; f++)
            sr[f] += x[f];
        counts[best]++;
        xxsum[best] += xx[i];
    }
    for (size_t q = 0; q < kd; q++)
        sums[q] += bsum[q];
}

/* Prediction rows: argmin, exact distance; a row whose distance is not finite (a NaN or
 * infinite band) gets -1. */
KM_CLONES
static void predict_rows(const float *g, int64_t m, int k, const float *cnorm, const float *x,
                         int d, const float *c, int32_t *labels, float *dist, float *vbuf,
                         row_totals *tot)
{
    for (int64_t i = 0; i < m; i++, g += k, x += d) {
        float bd;
        int best = argmin_row(g, cnorm, k, vbuf, &bd);
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
    float *vbuf = g + (size_t)block * (size_t)k + (size_t)k * (size_t)d; /* k floats */
    for (int64_t b = r0; b < r1; b += block) {
        int64_t m = r1 - b < block ? r1 - b : block;
        const float *xb = a->x + (size_t)b * (size_t)d;
        cn_gemm(false, true, m, k, d, -2.0f, xb, d, a->c, d, 0.0f, g, k);
        if (lloyd)
            lloyd_rows(g, m, k, w->cnorm, xb, w->xx + b, d, a->labels + b, a->dist + b, sums,
                       g + (size_t)block * (size_t)k, vbuf, counts, xxsum, &tot);
        else
            predict_rows(g, m, k, w->cnorm, xb, d, a->c, a->labels + b,
                         a->dist ? a->dist + b : NULL, vbuf, &tot);
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
static void norm_rows(const float *x, int64_t m, int d, double *xx, double *colsum,
                      int64_t *invalid)
{
    for (int64_t i = 0; i < m; i++, x += d) {
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int f = 0;
        for (; f + 8 <= d; f += 8)
            for (int u = 0; u < 8; u++)
                acc[u] += (double)x[f + u] * x[f + u];
        for (int u = 0; f < d; f++, u++)
            acc[u] += (double)x[f] * x[f];
        double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        xx[i] = s;
        if (!isfinite(s)) { /* a NaN or infinite band: squares of finite floats fit a double */
            ++*invalid;
            continue;
        }
        for (f = 0; f < d; f++)
            colsum[f] += x[f];
    }
}

static void norm_task(void *vctx, int64_t chunk, int worker)
{
    (void)worker;
    const norm_ctx *a = vctx;
    kwork *w = a->w;
    const int64_t r0 = chunk * w->plan.chunk;
    const int64_t r1 = r0 + w->plan.chunk < w->plan.n ? r0 + w->plan.chunk : w->plan.n;
    double *colsum = w->sums + (size_t)chunk * (size_t)w->d;
    memset(colsum, 0, (size_t)w->d * sizeof *colsum);
    w->cchanged[chunk] = 0;
    norm_rows(a->x + (size_t)r0 * (size_t)w->d, r1 - r0, w->d, w->xx + r0, colsum,
              &w->cchanged[chunk]);
}

cn_status kpass_norms(kwork *w, const float *x, int64_t *invalid, double *mean_var)
{
    free(w->xx);
    if (!(w->xx = malloc((size_t)(w->plan.n > 0 ? w->plan.n : 1) * sizeof *w->xx)))
        return cn_set_error(CN_ENOMEM, "k-means: out of memory for %lld pixels",
                            (long long)w->plan.n);
    norm_ctx a = {w, x};
    kpool_run(w->pool, w->plan.nchunks, norm_task, &a);
    int64_t bad = 0;
    for (int64_t ch = 0; ch < w->plan.nchunks; ch++)
        bad += w->cchanged[ch];
    if (invalid)
        *invalid = bad;
    if (!mean_var)
        return CN_OK;
    /* the mean over bands of (Σx² − n·μ²) / n from the norms and the band sums: one pass, and
     * in double the cancellation costs a few of sixteen digits even when means dwarf spreads */
    const int64_t n = w->plan.n - bad;
    double total = 0, mu2 = 0;
    for (int64_t i = 0; i < w->plan.n; i++)
        if (isfinite(w->xx[i]))
            total += w->xx[i];
    for (int f = 0; f < w->d; f++) {
        double sum = 0;
        for (int64_t ch = 0; ch < w->plan.nchunks; ch++)
            sum += w->sums[(size_t)ch * (size_t)w->d + (size_t)f];
        double mu = n > 0 ? sum / (double)n : 0;
        mu2 += mu * mu;
    }
    double v = n > 0 ? (total / (double)n - mu2) / w->d : 0;
    *mean_var = v > 0 ? v : 0;
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
