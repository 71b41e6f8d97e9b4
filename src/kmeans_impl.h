/*
 * kmeans_impl.h — what the k-means files share (not public): the model object, the work plan that
 * cuts the pixels into chunks and blocks, the thread pool, and the passes over the data.
 *
 *   kmeans.c            the model object, options, fit with restarts (n_init), tolerance
 *   kmeans_pool.c       a small persistent thread pool running chunk tasks
 *   kmeans_pass.c       the work plan and the fused block kernels: assignment + centroid sums
 *   kmeans_lloyd.c      Lloyd's iterations, empty clusters, predict
 *   kmeans_init.c       k-means++ (with its distance pass), random and given initial centroids
 *   kmeans_minibatch.c  mini-batch steps and partial_fit
 *   kmeans_io.c         the centroids file (JSON)
 *   kmeans_scan.c       the walk over a scene, tile by tile
 *   kmeans_sample.c     the fitting sample of a scene
 *   kmeans_raster.c     scenes: the fit (sampled or streamed) and the segment map
 *
 * Determinism rests on the plan: chunk boundaries depend on n only, each chunk writes its own
 * partial results, and partials are reduced in chunk order by one thread.
 */
#ifndef CROPNET_KMEANS_IMPL_H
#define CROPNET_KMEANS_IMPL_H

#include "cropnet.h"

/* Hot element-wise loops get AVX-512 / AVX2 clones picked at load time (the build targets the
 * baseline x86-64 unless CROPNET_NATIVE is set). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define KM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KM_CLONES
#endif

struct cn_kmeans {
    int k, d;
    float *centroids;  /* k × d, NULL while empty */
    double inertia;    /* NAN when unknown */
    int iterations;
    int64_t pixels;
    /* mini-batch state (partial_fit) */
    double *counts;    /* k: pixels absorbed by each centre; NULL until the first step */
    int64_t steps;     /* steps taken */
    int64_t since_reassign; /* pixels seen since low-count centres were last re-seeded */
    cn_rng rng;        /* for re-seeding centres, seeded at initialisation */
};

/* ---------------------------------------------------------------- plan and pool */

typedef struct kplan {
    int64_t n;        /* rows */
    int d;            /* bands */
    int64_t block;    /* rows per sgemm call */
    int64_t chunk;    /* rows per task and per partial result: a multiple of block */
    int64_t nchunks;
} kplan;

/* Chunks of at least 4096 rows, at most 64 of them; blocks sized for the sgemm (see there). */
void kplan_init(kplan *p, int64_t n, int d, int k);

typedef struct kpool kpool;
typedef void (*kpool_fn)(void *ctx, int64_t task, int worker);

/* A pool of threads workers (the caller counts as worker 0). When a thread cannot be started the
 * pool runs with fewer. Errors: CN_ENOMEM. */
cn_status kpool_new(int threads, kpool **out);
int kpool_threads(const kpool *p);
/* Runs fn(ctx, t, worker) for t in 0..tasks-1, spread over the workers; returns when all are
 * done. Tasks must not depend on which worker runs them. */
void kpool_run(kpool *p, int64_t tasks, kpool_fn fn, void *ctx);
void kpool_free(kpool *p);

/* ---------------------------------------------------------------- passes */

/* What a run over the data holds: plan, pool, per-worker scratch and per-chunk partials. */
typedef struct kwork {
    kplan plan;
    kpool *pool;
    int k, d;
    int width;          /* columns of a scratch block: max(k, k-means++ candidates) */
    bool blas_threads;  /* CN_KMEANS_SPLIT_BLAS: one chunk per sgemm, chunks in sequence */
    int saved_threads;  /* BLAS threads to restore */
    float **scratch;    /* per worker: KWORK_SCRATCH(rows, width, k, d) floats (rows = block,
                           or chunk under BLAS threads) */
    double *sums;       /* nchunks × k × d */
    int64_t *counts;    /* nchunks × k */
    double *cinertia;   /* nchunks */
    int64_t *cchanged;  /* nchunks */
    double *cpot;       /* nchunks × width: k-means++ potentials */
    float *cnorm;       /* width: squared norms of the centroids / candidates */
    int64_t cap_chunks; /* chunks the partials have room for */
    int64_t cap_rows;   /* rows per scratch block */
} kwork;

/* A worker's scratch: the block's product (width × rows), its float sums (k × d), best and idx
 * (rows each), then for k-means++ on few bands 256 rows turned band by band and their sums. */
#define KM_SOA_ROWS 256
#define KWORK_SCRATCH(rows, width, k, d)                                                      \
    ((size_t)(rows) * (size_t)(width) + (size_t)(k) * (size_t)(d) + 2 * (size_t)(rows) +      \
     ((size_t)(d) + 1) * KM_SOA_ROWS)

/* Sets up a run over n × d rows with k clusters (and room for width >= k candidates), with
 * threads workers (0 = cn_get_threads()). Sets BLAS to one thread (pixel split) or to threads
 * (BLAS split) until kwork_free. Errors: CN_ENOMEM, CN_EOVERFLOW. */
cn_status kwork_new(int64_t n, int d, int k, int width, int threads, cn_kmeans_threading how,
                    kwork *w);
void kwork_free(kwork *w);
/* Re-plans w for n rows, n at most the rows it was made for (mini-batches of varying size). */
void kwork_set_rows(kwork *w, int64_t n);

typedef enum kpass_mode {
    KPASS_LLOYD,  /* per chunk and cluster: centroid sums and counts (the rows must be valid) */
    KPASS_PREDICT /* dist[i] = exact squared distance (dist may be NULL); rows whose distance is
                     not finite (a NaN or infinite band) get label -1 and NAN; chunk inertia */
} kpass_mode;

/* One assignment pass: labels[i] = nearest of the k centroids c (k × d) by ‖c‖² − 2·x·c
 * (sgemm). Per chunk: the number of labels that changed from what labels held before, and the
 * partials of the mode. */
void kpass_assign(kwork *w, const float *x, const float *c, int32_t *labels, float *dist,
                  kpass_mode mode);

/* dist[i] = exact squared distance of x_i to its centroid c[labels[i]] (labels all valid), and
 * the chunk inertia: for the farthest pixels and a mini-batch's inertia. */
void kpass_distances(kwork *w, const float *x, const float *c, const int32_t *labels,
                     float *dist);

/* One pass over x: *invalid = the rows with a NaN or infinite band; *mean_var (may be NULL) =
 * the mean over bands of the variance of the other rows (from Σ‖x‖² and the band sums, in
 * double). */
void kpass_norms(kwork *w, const float *x, int64_t *invalid, double *mean_var);

/* Exact squared distance of two d-vectors in float, partial sums added in a fixed order (it
 * vectorises without reassociation: every machine and clone gives the same bits). Differences
 * are squared before summing, so no cancellation, unlike the sgemm form. */
static inline float kmeans_sqdist(const float *x, const float *c, int d)
{
    if (d < 16) { /* a few bands (Landsat's six): one plain chain beats vector set-up */
        float s = 0;
        for (int f = 0; f < d; f++) {
            float t = x[f] - c[f];
            s += t * t;
        }
        return s;
    }
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

/* ---------------------------------------------------------------- the algorithms */

/* Where a worker's k-means++ rows go (see KWORK_SCRATCH). */
static inline float *kwork_soa(const kwork *w, int worker)
{
    size_t rows = (size_t)w->cap_rows;
    return w->scratch[worker] + rows * (size_t)w->width + (size_t)w->k * (size_t)w->d + 2 * rows;
}

/* Initial centroids into c (k × d) by o->init, from the n valid rows of x. */
cn_status kmeans_init_centroids(kwork *w, const float *x, const cn_kmeans_options *o,
                                cn_rng *rng, float *c);

/* Lloyd from the centroids in c (updated in place) on the n rows of x. labels (n) is scratch
 * and ends with the final assignment. */
typedef struct klloyd_result {
    double inertia;
    int iterations;
} klloyd_result;
cn_status kmeans_lloyd(kwork *w, const float *x, float *c, int32_t *labels, int max_iter,
                       double tol_abs, const cn_kmeans_options *o, int run, klloyd_result *res);

/* m distinct rows of x (n × d) drawn uniformly (Floyd's algorithm) copied to out (m × d). */
cn_status kmeans_random_rows(int64_t n, int64_t m, const float *x, int d, cn_rng *rng,
                             float *out);

/* Mini-batch steps on a model whose centroids are set: a workspace for batches of up to batch
 * rows (threads as kwork_new), and scikit-learn's early-stopping state. */
typedef struct kminibatch {
    cn_kmeans *km;
    kwork w;
    int64_t batch;
    int32_t *labels;    /* batch */
    float *dist;        /* batch */
    int64_t n_total;    /* rows of the whole data set (for the average's weight), 0 if unknown */
    double ewa, ewa_min;/* exponentially weighted batch inertia (per pixel), NAN before step 1 */
    int no_improvement; /* steps since ewa last fell */
} kminibatch;
cn_status kmb_begin(cn_kmeans *km, int64_t batch, int64_t n_total, int threads, kminibatch *s);
/* One step on the m <= batch valid rows of x. *stop (may be NULL) is set when ten steps in a row
 * did not lower the weighted inertia (scikit-learn's max_no_improvement). */
cn_status kmb_step(kminibatch *s, const float *x, int64_t m, bool *stop);
void kmb_end(kminibatch *s);
/* Initialises an empty model from the n valid rows of x with o's init and seed (km->rng is
 * seeded from o->seed). */
cn_status kmb_init(cn_kmeans *km, const float *x, int64_t n, const cn_kmeans_options *o);

/* ---------------------------------------------------------------- scenes */

/* One tile's buffers and the walk over a scene (kmeans_scan.c). */
typedef struct kscan {
    cn_raster *img;
    cn_tile_plan plan;
    int bands;
    float *pixels;  /* tile_w · tile_h · bands */
    uint8_t *valid; /* tile_w · tile_h */
    int x, y, w, h; /* the tile just read */
    int64_t tiles, done;
} kscan;

/* The tile plan of cn_classify for o's tile and ram; buffers. Errors: CN_EINVAL, CN_ENOMEM. */
cn_status kscan_begin(kscan *s, cn_raster *img, const cn_cluster_options *o);
/* Reads the next tile; *more false once the scene is done. Errors: those of cn_raster_read. */
cn_status kscan_next(kscan *s, bool *more);
/* Moves the tile's valid pixels to the front, in order; returns their number. */
int64_t kscan_compact(kscan *s);
void kscan_end(kscan *s); /* idempotent */
/* o's progress function with the stage name; false when it asks to stop. */
bool kscan_progress(const cn_cluster_options *o, double f, const char *stage);
cn_status kscan_cancelled(const cn_raster *img);      /* "IMAGE: cancelled" */
cn_status kscan_no_valid_pixel(const cn_raster *img); /* "IMAGE: has no valid pixel (...)" */

/* Up to cap valid pixels of img, a uniform sample in scene order (kmeans_sample.c): *pixels
 * (malloc'd), *count; *seen = the valid pixels of the scene. */
cn_status kmeans_sample(cn_raster *img, const cn_cluster_options *o, int64_t cap, float **pixels,
                        int64_t *count, int64_t *seen);

/* Checks o (and k against n valid rows); msg names what is wrong. */
cn_status kmeans_check_options(const cn_kmeans_options *o, int d, int64_t valid);

/* Valid rows of x: *out points at x when all are valid, else at a malloc'd copy (*owned true);
 * index (may be NULL) gets, when a copy is made, the original row of each kept row (malloc'd). */
cn_status kmeans_valid_rows(const float *x, int64_t n, int d, const float **out, int64_t *count,
                            bool *owned, int64_t **index);

/* Stores centroids etc. into km (allocating its centroids when empty). */
cn_status kmeans_set_result(cn_kmeans *km, const float *c, double inertia, int iterations,
                            int64_t pixels);

/* The centroids as a JSON array of k rows (malloc'd, free()); NULL when out of memory. */
char *kmeans_centroids_json(const cn_kmeans *km);

/* Progress within run r of runs for fraction f of that run; false when cancelled. */
bool kmeans_progress(const cn_kmeans_options *o, int run, int runs, double f);

#endif
