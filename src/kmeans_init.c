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

/* ---------------------------------------------------------------- the distance pass
 *
 * Each new centre compares a handful of candidates with every pixel. With many bands that is an
 * sgemm per block (−2·x·cand, candidate by candidate) plus ‖x‖² and ‖cand‖², the distances
 * clamped at 0 (measured twice as fast as computing them directly, and it only steers the
 * drawing: the inertia always comes from exact distances). With few bands (< 16) an sgemm cannot
 * be efficient, so every distance is computed directly and exactly, 256 pixels at a time turned
 * band by band so the arithmetic runs sixteen pixels wide. */

typedef struct cand_ctx {
    kwork *w;
    const float *x, *closest, *cand, *cnorm;
    int t;
    float *out;
} cand_ctx;

/* pot += Σ o[0..m) in eight chains added in a fixed order. */
static inline void add_sum(double *pot, const float *o, int64_t m)
{
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= m; i += 8)
        for (int u = 0; u < 8; u++)
            lane[u] += o[i + u];
    for (int u = 0; i < m; i++, u++)
        lane[u] += o[i];
    *pot += ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/* Many bands: the distances of a block from its sgemm product g (t × m); xx is scratch (m). */
KM_CLONES
static void cand_block_gemm(const float *g, int64_t m, int t, const float *x, int d,
                            const float *cnorm, const float *closest, float *out, int64_t n,
                            double *pot, float *xx)
{
    for (int64_t i = 0; i < m; i++) {
        const float *xi = x + (size_t)i * (size_t)d;
        float acc[16] = {0};
        int f = 0;
        for (; f + 16 <= d; f += 16)
            for (int u = 0; u < 16; u++)
                acc[u] += xi[f + u] * xi[f + u];
        for (int u = 0; f < d; f++, u++)
            acc[u] += xi[f] * xi[f];
        for (int h = 8; h > 0; h /= 2)
            for (int u = 0; u < h; u++)
                acc[u] += acc[u + h];
        xx[i] = acc[0];
    }
    for (int l = 0; l < t; l++, g += m) {
        float *o = out + (size_t)l * (size_t)n;
        for (int64_t i = 0; i < m; i++) {
            float v = xx[i] + cnorm[l] + g[i];
            v = v > 0 ? v : 0; /* rounding can make a pixel's distance to itself negative */
            o[i] = closest && closest[i] < v ? closest[i] : v;
        }
        add_sum(&pot[l], o, m);
    }
}

/* Few bands: 256 rows at a time turned band by band (soa: d × 256, then 256 sums), every
 * distance computed across rows, summed over the bands in order. */
KM_CLONES
static void cand_rows_soa(const float *x, int64_t r0, int64_t r1, int d, const float *closest,
                          const float *cand, int t, float *out, int64_t n, double *pot,
                          float *soa)
{
    float *acc = soa + (size_t)d * KM_SOA_ROWS;
    for (int64_t b = r0; b < r1; b += KM_SOA_ROWS) {
        const int m = (int)(r1 - b < KM_SOA_ROWS ? r1 - b : KM_SOA_ROWS);
        for (int i = 0; i < m; i++)
            for (int f = 0; f < d; f++)
                soa[(size_t)f * KM_SOA_ROWS + (size_t)i] = x[(size_t)(b + i) * (size_t)d + (size_t)f];
        for (int l = 0; l < t; l++) {
            const float *c = cand + (size_t)l * (size_t)d;
            for (int i = 0; i < m; i++)
                acc[i] = 0;
            for (int f = 0; f < d; f++) {
                const float cf = c[f], *col = soa + (size_t)f * KM_SOA_ROWS;
                for (int i = 0; i < m; i++) {
                    float u = col[i] - cf;
                    acc[i] += u * u;
                }
            }
            float *o = out + (size_t)l * (size_t)n + (size_t)b;
            for (int i = 0; i < m; i++)
                o[i] = closest && closest[b + i] < acc[i] ? closest[b + i] : acc[i];
            add_sum(&pot[l], o, m);
        }
    }
}

static void cand_task(void *vctx, int64_t chunk, int worker)
{
    const cand_ctx *a = vctx;
    kwork *w = a->w;
    const int d = w->d;
    const int64_t r0 = chunk * w->plan.chunk;
    const int64_t r1 = r0 + w->plan.chunk < w->plan.n ? r0 + w->plan.chunk : w->plan.n;
    double *pot = w->cpot + (size_t)chunk * (size_t)w->width;
    for (int l = 0; l < a->t; l++)
        pot[l] = 0;
    if (d < 16) {
        cand_rows_soa(a->x, r0, r1, d, a->closest, a->cand, a->t, a->out, w->plan.n, pot,
                      kwork_soa(w, worker));
        return;
    }
    /* scratch: the product (t × block), then ‖x‖² of the block */
    float *g = w->scratch[worker];
    float *xx = g + (size_t)w->cap_rows * (size_t)w->width;
    const int64_t block = w->blas_threads ? w->plan.chunk : w->plan.block;
    for (int64_t b = r0; b < r1; b += block) {
        int64_t m = r1 - b < block ? r1 - b : block;
        const float *xb = a->x + (size_t)b * (size_t)d;
        cn_gemm(false, true, a->t, m, d, -2.0f, a->cand, d, xb, d, 0.0f, g, m);
        cand_block_gemm(g, m, a->t, xb, d, a->cnorm, a->closest ? a->closest + b : NULL,
                        a->out + b, w->plan.n, pot, xx);
    }
}

/* out[l·n + i] = min(closest[i], ‖x_i − cand_l‖²) for the t candidates, and the chunk
 * potentials in w->cpot[chunk·width + l]. closest NULL: the plain distances (first centre). */
static void candidates(kwork *w, const float *x, const float *closest, const float *cand, int t,
                       float *out)
{
    for (int l = 0; l < t; l++) {
        const float *cl = cand + (size_t)l * (size_t)w->d;
        float s = 0;
        for (int f = 0; f < w->d; f++)
            s += cl[f] * cl[f];
        w->cnorm[l] = s;
    }
    cand_ctx a = {w, x, closest, cand, w->cnorm, t, out};
    kpool_run(w->pool, w->plan.nchunks, cand_task, &a);
}

/* ---------------------------------------------------------------- k-means++ */

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
    if ((uint64_t)n > SIZE_MAX / sizeof(float) / (uint64_t)(t + 1))
        return cn_set_error(CN_EOVERFLOW, "k-means++: %lld pixels is too many", (long long)n);
    float *closest = malloc((size_t)n * (size_t)(t + 1) * sizeof *closest);
    float *cand = malloc((size_t)t * (size_t)d * sizeof *cand);
    double *chunk_pot = malloc((size_t)nc * sizeof *chunk_pot);
    cn_status st = CN_OK;
    if (!closest || !cand || !chunk_pot) {
        st = cn_set_error(CN_ENOMEM, "k-means++: out of memory for %lld pixels", (long long)n);
        goto done;
    }
    float *out = closest + n; /* t rows of n */
    int64_t first = (int64_t)cn_rng_below(rng, (uint64_t)n);
    memcpy(c, x + (size_t)first * (size_t)d, (size_t)d * sizeof *c);
    candidates(w, x, NULL, c, 1, closest);
    double total = 0;
    for (int64_t ch = 0; ch < nc; ch++)
        total += chunk_pot[ch] = w->cpot[(size_t)ch * (size_t)w->width];
    for (int j = 1; j < k; j++) {
        for (int l = 0; l < t; l++) {
            int64_t i = draw(w, closest, chunk_pot, cn_rng_uniform(rng) * total);
            memcpy(cand + (size_t)l * (size_t)d, x + (size_t)i * (size_t)d,
                   (size_t)d * sizeof *cand);
        }
        candidates(w, x, closest, cand, t, out);
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
        memcpy(closest, out + (size_t)best * (size_t)n, (size_t)n * sizeof *closest);
        for (int64_t ch = 0; ch < nc; ch++)
            chunk_pot[ch] = w->cpot[(size_t)ch * (size_t)w->width + (size_t)best];
        total = best_pot;
    }
done:
    free(closest);
    free(cand);
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
