/*
 * kmeans_pass.c — the passes over the pixels that Lloyd, predict and mini-batch are made of, and
 * the plan and workspace they run in.
 *
 * The assignment pass is the hot loop of Lloyd and of predict. For a block of pixels (small
 * enough to stay in cache) one sgemm gives −2·x·c for every centroid; adding ‖c‖² gives the
 * distance up to ‖x‖², which does not change the argmin. The product is laid out centroid by
 * centroid, so the argmin runs across rows, sixteen at a time. While the block's rows are still in
 * cache, Lloyd adds each row to its centroid's running sum; predict takes the exact squared
 * distance Σ(x − c)² instead (the sgemm form loses digits when ‖x‖ is large next to the distance:
 * the inertia wants the exact one). Sums, counts and inertia are kept per chunk and added in
 * chunk order afterwards, so results do not depend on the threads.
 */
#include "kmeans_impl.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN 4096
#define CHUNK_MAX_COUNT 64
#define BLOCK_FLOATS 65536 /* at most 256 KiB of pixels per packed sgemm call */

void kplan_init(kplan *p, int64_t n, int d, int k)
{
    p->n = n;
    p->d = d;
    /* OpenBLAS (0.3.21, SkylakeX kernels) multiplies small products without packing them first:
     * M·N·K <= 10^6 and, with our layout (its A transposed), M·N <= 1200 and K >= 32. Our
     * products are tall and narrow (rows × k × d) and packing the rows costs as much as the
     * product, so when k and d allow, blocks of 1200 / k rows take that path (about 15% fewer
     * profile samples per Lloyd iteration at k = 16, d = 204 than 256 KiB blocks). */
    int64_t small = k > 0 ? 1200 / k / 8 * 8 : 0;
    if (small * k * (int64_t)d > 1000000)
        small = 1000000 / ((int64_t)k * d) / 8 * 8;
    int64_t block;
    if (d >= 32 && small >= 16) {
        block = small;
    } else {
        /* at most 1024 pixels, and never a multiple of 256: the product's k rows would then lie
         * a multiple of 1 KiB apart, on the same cache sets (measured 30% slower at 1024 or 4096
         * pixels than at 1040 on the Landsat pixels) */
        block = BLOCK_FLOATS / (d > 0 ? d : 1) / 16 * 16;
        block = block < 16 ? 16 : block > 1024 ? 1024 : block;
        if (block % 256 == 0)
            block += 16;
    }
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
    bool ok = w->scratch && w->sums && w->counts && w->cinertia && w->cchanged && w->cpot &&
              w->cnorm;
    for (int i = 0; ok && i < workers; i++)
        ok = (w->scratch[i] = malloc(KWORK_SCRATCH(rows, w->width, k, d) * sizeof(float))) != NULL;
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
    memset(w, 0, sizeof *w);
}

/* ---------------------------------------------------------------- assignment */

/* The nearest centroid of each of the m rows of a block, from the block's sgemm product laid out
 * centroid by centroid (g[j·m + i] = −2·x_i·c_j): best[i] = min_j g + ‖c_j‖², idx[i] = the first
 * j reaching it (strict comparison: ties go to the lowest index, as scikit-learn). Sixteen rows
 * at a time keep their running minimum and index in one vector each while j runs (GCC's vector
 * extension: the auto-vectoriser keeps them in sixteen scalar registers instead), so nothing is
 * reloaded per centroid. A row of NaN (an invalid pixel) gets 0 and +inf. */
#if defined(__GNUC__)
typedef float km_v16f __attribute__((vector_size(64)));
typedef int32_t km_v16i __attribute__((vector_size(64)));
#endif

static inline void argmin_cols(const float *g, int64_t m, int k, const float *cnorm, float *best,
                               int32_t *idx)
{
    int64_t i0 = 0;
#if defined(__GNUC__)
    for (; i0 + 16 <= m; i0 += 16) {
        km_v16f b;
        km_v16i ix = {0};
        for (int u = 0; u < 16; u++)
            b[u] = INFINITY;
        for (int j = 0; j < k; j++) {
            km_v16f v;
            memcpy(&v, g + (size_t)j * (size_t)m + (size_t)i0, sizeof v);
            v = v + cnorm[j];
            km_v16i lt = v < b; /* -1 where smaller */
            b = (km_v16f)(((km_v16i)v & lt) | ((km_v16i)b & ~lt));
            ix = (j & lt) | (ix & ~lt);
        }
        memcpy(best + i0, &b, sizeof b);
        memcpy(idx + i0, &ix, sizeof ix);
    }
#endif
    for (int64_t i = i0; i < m; i++) { /* the last rows (all of them without the extension) */
        float b = INFINITY;
        int32_t ix = 0;
        for (int j = 0; j < k; j++) {
            float v = g[(size_t)j * (size_t)m + (size_t)i] + cnorm[j];
            if (v < b) {
                b = v;
                ix = j;
            }
        }
        best[i] = b;
        idx[i] = ix;
    }
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

/* Lloyd rows of one block after its sgemm: argmin, labels and the number changed (vectorised
 * across rows), then each row added to its centroid's sum. Sums are taken in float (sixteen
 * lanes) in bsum, which the caller zeroes per chunk; every FLUSH_ROWS rows (*pending counts them)
 * they are added to the chunk's double sums. */
#define FLUSH_ROWS 128 /* float sums of at most 128 pixels keep about 1e-7 */
KM_CLONES
static void lloyd_rows(const float *g, int64_t m, int k, const float *cnorm, const float *x,
                       int d, int32_t *labels, double *sums, float *bsum, float *best,
                       int32_t *idx, int64_t *counts, int *pending, row_totals *tot)
{
    argmin_cols(g, m, k, cnorm, best, idx);
    int64_t changed = 0;
    for (int64_t i = 0; i < m; i++) {
        changed += labels[i] != idx[i];
        labels[i] = idx[i];
    }
    tot->changed += changed;
    const size_t kd = (size_t)k * (size_t)d;
    for (int64_t i = 0; i < m; i++, x += d) {
        if (++*pending > FLUSH_ROWS) {
            for (size_t q = 0; q < kd; q++) {
                sums[q] += bsum[q];
                bsum[q] = 0;
            }
            *pending = 1;
        }
        const int j = idx[i];
        float *sr = bsum + (size_t)j * (size_t)d;
        for (int f = 0; f < d; f++)
            sr[f] += x[f];
        counts[j]++;
    }
}

/* Prediction rows: argmin, exact distance; a row whose distance is not finite (a NaN or
 * infinite band) gets -1. */
KM_CLONES
static void predict_rows(const float *g, int64_t m, int k, const float *cnorm, const float *x,
                         int d, const float *c, int32_t *labels, float *dist, float *best,
                         int32_t *idx, row_totals *tot)
{
    argmin_cols(g, m, k, cnorm, best, idx);
    for (int64_t i = 0; i < m; i++, x += d) {
        int j = idx[i];
        float s = kmeans_sqdist(x, c + (size_t)j * (size_t)d, d);
        if (!isfinite(s)) {
            j = -1;
            s = NAN;
        } else {
            tot->inertia += s;
        }
        tot->changed += labels[i] != j;
        labels[i] = j;
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
    if (lloyd) {
        memset(sums, 0, (size_t)k * (size_t)d * sizeof *sums);
        memset(counts, 0, (size_t)k * sizeof *counts);
    }
    row_totals tot = {0, 0};
    /* scratch: the product (k × block), the block's float sums (k × d), best and idx (block) */
    float *g = w->scratch[worker];
    float *bsum = g + (size_t)w->cap_rows * (size_t)w->width;
    float *best = bsum + (size_t)k * (size_t)d;
    int32_t *idx = (int32_t *)(best + w->cap_rows);
    int pending = 0; /* rows in bsum */
    if (lloyd)
        memset(bsum, 0, (size_t)k * (size_t)d * sizeof *bsum);
    for (int64_t b = r0; b < r1; b += block) {
        int64_t m = r1 - b < block ? r1 - b : block;
        const float *xb = a->x + (size_t)b * (size_t)d;
        cn_gemm(false, true, k, m, d, -2.0f, a->c, d, xb, d, 0.0f, g, m);
        if (lloyd)
            lloyd_rows(g, m, k, w->cnorm, xb, d, a->labels + b, sums, bsum, best, idx, counts,
                       &pending, &tot);
        else
            predict_rows(g, m, k, w->cnorm, xb, d, a->c, a->labels + b,
                         a->dist ? a->dist + b : NULL, best, idx, &tot);
    }
    if (lloyd)
        for (size_t q = 0, kd = (size_t)k * (size_t)d; q < kd; q++)
            sums[q] += bsum[q];
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

/* ---------------------------------------------------------------- exact distances */

typedef struct dist_ctx {
    kwork *w;
    const float *x, *c;
    const int32_t *labels;
    float *dist;
} dist_ctx;

static void dist_task(void *vctx, int64_t chunk, int worker)
{
    (void)worker;
    const dist_ctx *a = vctx;
    kwork *w = a->w;
    const int d = w->d;
    const int64_t r0 = chunk * w->plan.chunk;
    const int64_t r1 = r0 + w->plan.chunk < w->plan.n ? r0 + w->plan.chunk : w->plan.n;
    double sum = 0;
    for (int64_t i = r0; i < r1; i++) {
        float s = kmeans_sqdist(a->x + (size_t)i * (size_t)d,
                                a->c + (size_t)a->labels[i] * (size_t)d, d);
        a->dist[i] = s;
        sum += s;
    }
    w->cinertia[chunk] = sum;
}

void kpass_distances(kwork *w, const float *x, const float *c, const int32_t *labels,
                     float *dist)
{
    dist_ctx a = {w, x, c, labels, dist};
    kpool_run(w->pool, w->plan.nchunks, dist_task, &a);
}

/* ---------------------------------------------------------------- norms and variance */

typedef struct norm_ctx {
    kwork *w;
    const float *x;
} norm_ctx;

KM_CLONES
static void norm_rows(const float *x, int64_t m, int d, double *total, double *colsum,
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
        if (!isfinite(s)) { /* a NaN or infinite band: squares of finite floats fit a double */
            ++*invalid;
            continue;
        }
        *total += s;
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
    w->cinertia[chunk] = 0;
    norm_rows(a->x + (size_t)r0 * (size_t)w->d, r1 - r0, w->d, &w->cinertia[chunk], colsum,
              &w->cchanged[chunk]);
}

void kpass_norms(kwork *w, const float *x, int64_t *invalid, double *mean_var)
{
    norm_ctx a = {w, x};
    kpool_run(w->pool, w->plan.nchunks, norm_task, &a);
    int64_t bad = 0;
    double total = 0;
    for (int64_t ch = 0; ch < w->plan.nchunks; ch++) {
        bad += w->cchanged[ch];
        total += w->cinertia[ch];
    }
    *invalid = bad;
    if (!mean_var)
        return;
    /* the mean over bands of (Σx² − n·μ²) / n: in double the cancellation costs a few of
     * sixteen digits even when the means dwarf the spreads */
    const int64_t n = w->plan.n - bad;
    double mu2 = 0;
    for (int f = 0; f < w->d; f++) {
        double sum = 0;
        for (int64_t ch = 0; ch < w->plan.nchunks; ch++)
            sum += w->sums[(size_t)ch * (size_t)w->d + (size_t)f];
        double mu = n > 0 ? sum / (double)n : 0;
        mu2 += mu * mu;
    }
    double v = n > 0 ? (total / (double)n - mu2) / w->d : 0;
    *mean_var = v > 0 ? v : 0;
}
