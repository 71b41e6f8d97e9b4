/*
 * cropnet_cluster.h — k-means clustering of pixels (public): the fitted model, Lloyd's algorithm
 * with k-means++ / random / given initialisation, mini-batch k-means with partial_fit-style
 * updates, prediction, the centroids file, and scenes clustered tile by tile.
 *
 * Included by cropnet.h. Data are pixel-interleaved float32 rows (n pixels × d bands, row-major),
 * as everywhere in the core. Cluster ids are 0-based in C (-1 for a pixel that cannot be
 * assigned: any band NaN or infinite); raster segment maps hold ids 1..k with 0 = nodata.
 *
 * Determinism: the pixels are cut into chunks whose size depends on the pixel count only; every
 * chunk keeps its own partial sums and the partials are added in chunk order. The same data,
 * options and seed therefore give bit-identical centroids, labels and inertia whatever the
 * thread count (with the default CN_KMEANS_SPLIT_PIXELS threading).
 *
 * Threads: a cn_kmeans may be read (predict) from several threads at once; fitting or
 * partial_fit changes it and needs it to itself. Fits and predictions with the default threading
 * set OpenBLAS to one thread for their duration and restore the count after (cn_set_threads), so
 * run them from one thread at a time, or call cn_set_threads(1) first.
 */
#ifndef CROPNET_CLUSTER_H
#define CROPNET_CLUSTER_H

#include "cropnet.h" /* cn_status, cn_progress_fn, cn_raster (it includes this file at its end) */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- options */

typedef enum cn_kmeans_init_kind {
    CN_KMEANS_INIT_PLUSPLUS = 0, /* k-means++ with scikit-learn's greedy candidates: at every new
                                    centre, 2 + floor(ln k) pixels drawn with probability
                                    proportional to D(x)², keeping the one that lowers the
                                    potential most */
    CN_KMEANS_INIT_RANDOM,       /* k distinct pixels drawn uniformly */
    CN_KMEANS_INIT_GIVEN         /* the caller's centroids (init_centroids); n_init is then 1 */
} cn_kmeans_init_kind;

/* How threads share the work (both are one threading layer at a time). */
typedef enum cn_kmeans_threading {
    CN_KMEANS_SPLIT_PIXELS = 0,  /* threads split the pixels, BLAS single-threaded in each (the
                                    default: measured faster, see docs/kmeans.md) */
    CN_KMEANS_SPLIT_BLAS         /* one chunk at a time, BLAS threads inside each sgemm */
} cn_kmeans_threading;

typedef struct cn_kmeans_options {
    int k;                       /* clusters, >= 1 (and <= the pixels fitted) */
    cn_kmeans_init_kind init;    /* default k-means++ */
    const float *init_centroids; /* k × d, for CN_KMEANS_INIT_GIVEN (copied) */
    int n_init;                  /* restarts from new initial centroids, the lowest inertia is
                                    kept; >= 1, default 1 */
    int max_iter;                /* Lloyd iterations at most, >= 1, default 300 */
    double tol;                  /* relative tolerance, >= 0, default 1e-4: stops when the sum of
                                    squared centroid shifts is <= tol × the mean of the per-band
                                    variances of the data (scikit-learn's rule); 0 stops only
                                    when no label changes or at max_iter */
    uint64_t seed;               /* seeds every random choice (default 0) */
    int threads;                 /* >= 0; 0 = cn_get_threads() */
    cn_kmeans_threading threading;
    cn_progress_fn progress;     /* may be NULL; fraction over all restarts */
    void *progress_data;
} cn_kmeans_options;

/* Fills o with the defaults above (k = 8, as scikit-learn). */
void cn_kmeans_defaults(cn_kmeans_options *o);

/* ---------------------------------------------------------------- the model */

typedef struct cn_kmeans cn_kmeans;

/* A model of k centroids of d bands. centroids (k × d, copied) may be NULL: the model is then
 * empty until cn_kmeans_partial_fit initialises it. Errors: CN_EINVAL (k or d < 1, a centroid
 * that is not finite), CN_EOVERFLOW, CN_ENOMEM. */
cn_status cn_kmeans_new(int k, int d, const float *centroids, cn_kmeans **out);
void cn_kmeans_free(cn_kmeans *km); /* NULL is a no-op */

int cn_kmeans_k(const cn_kmeans *km);
int cn_kmeans_dims(const cn_kmeans *km);
/* k × d centroids (borrowed, changed by the next fit), NULL while the model is empty. */
const float *cn_kmeans_centroids(const cn_kmeans *km);
/* Sum of squared distances of the fitted pixels to their centroid (NAN when not known: a model
 * made from given centroids, or a mini-batch model before its final pass). */
double cn_kmeans_inertia(const cn_kmeans *km);
int cn_kmeans_iterations(const cn_kmeans *km); /* Lloyd iterations (mini-batch: steps) */
int64_t cn_kmeans_pixels(const cn_kmeans *km); /* valid pixels fitted on (0 when unknown) */

/* ---------------------------------------------------------------- Lloyd */

/* Fits k-means on the n × d rows of x: initialisation, Lloyd iterations (distances
 * ‖x‖² − 2·x·c + ‖c‖² through sgemm over blocks of pixels, assignment and centroid update fused
 * per block), n_init restarts keeping the lowest inertia. Rows with a NaN or infinite band are
 * left out. An empty cluster takes the pixel farthest from its centroid (scikit-learn's rule).
 * labels (n values, may be NULL) receive the final 0-based cluster of each row, -1 for rows left
 * out. Errors: CN_EINVAL (k < 1, k larger than the valid rows — "k = 20 is more than the 12
 * valid pixels" —, no valid row, bad options), CN_ENOMEM, CN_EOVERFLOW, CN_ECANCELLED. */
cn_status cn_kmeans_fit(const float *x, int64_t n, int d, const cn_kmeans_options *o,
                        int32_t *labels, cn_kmeans **out);

/* Assigns each of the n × d rows of x (d must equal the model's, else CN_ESHAPE "has 5 bands,
 * the model has 6") to its nearest centroid: labels[i] in 0..k-1, or -1 for a row with a NaN or
 * infinite band. distances (may be NULL) get the squared distance to that centroid (NAN for -1
 * rows); *inertia (may be NULL) their sum. threads 0 = cn_get_threads(). Errors: CN_ESHAPE,
 * CN_EINVAL (empty model), CN_ENOMEM. */
cn_status cn_kmeans_predict(const cn_kmeans *km, const float *x, int64_t n, int d, int threads,
                            int32_t *labels, float *distances, double *inertia);

/* ---------------------------------------------------------------- mini-batch */

/* One mini-batch step on the n × d rows of x (scikit-learn's partial_fit): an empty model is
 * first initialised from x with o's init and seed (x must then hold at least k valid rows); then
 * every centroid moves to the running mean of all the pixels it has been given, c ← c + (Σ new −
 * m·c) / (count + m). Centres left with fewer than 1% of the largest count after a step take the
 * farthest pixels of the batch. Invalid rows are skipped. Errors: CN_ESHAPE, CN_EINVAL,
 * CN_ENOMEM. */
cn_status cn_kmeans_partial_fit(cn_kmeans *km, const float *x, int64_t n, int d,
                                const cn_kmeans_options *o);

/* Mini-batch k-means on the n × d rows of x: initialised on a random subset of max(3·batch,
 * 3·k) rows, then steps batches of batch rows drawn with replacement (steps 0 = as
 * scikit-learn: max_iter · n / batch), then a labelling pass for the inertia (and labels, may be
 * NULL). Errors: as cn_kmeans_fit. */
cn_status cn_kmeans_fit_minibatch(const float *x, int64_t n, int d, const cn_kmeans_options *o,
                                  int64_t batch, int64_t steps, int32_t *labels,
                                  cn_kmeans **out);

/* ---------------------------------------------------------------- the centroids file */

/* The model as JSON: {"format": "cropnet-kmeans", "version": 1, "k": K, "bands": D,
 * "centroids": [[...], ...], "inertia": f|null, "iterations": n, "pixels": n} (floats with 9
 * significant digits: float32 round-trips exactly). *out is malloc'd (free()). */
cn_status cn_kmeans_to_json(const cn_kmeans *km, char **out);

/* Writes that JSON to path atomically (temporary file renamed into place); path must differ from
 * the NULL-terminated inputs (may be NULL). Errors: CN_EINVAL, CN_EIO, CN_ENOMEM. */
cn_status cn_kmeans_save(const cn_kmeans *km, const char *path, const char *const *inputs);

/* Reads a centroids file written by cn_kmeans_save. Refused with "PATH: reason" (CN_EFORMAT)
 * when it is not that JSON, k or bands are out of range, the centroids do not have k rows of
 * bands finite numbers; CN_EIO when it cannot be read. */
cn_status cn_kmeans_load(const char *path, cn_kmeans **out);

/* ---------------------------------------------------------------- scenes */

/* Pixels fitted by default when no sample size is given: every valid pixel when there are at
 * most CN_CLUSTER_SAMPLE_PIXELS of them and they fit in CN_CLUSTER_SAMPLE_BYTES as float32,
 * otherwise a uniform random sample of as many as both limits allow. */
#define CN_CLUSTER_SAMPLE_PIXELS ((int64_t)1 << 20)
#define CN_CLUSTER_SAMPLE_BYTES ((int64_t)256 << 20)

typedef struct cn_cluster_options {
    cn_kmeans_options kmeans;   /* k, init, seed, ... (progress is taken from here) */
    int64_t sample;             /* pixels to fit on, 0 = the default above; a scene with fewer
                                   valid pixels gives them all */
    int64_t batch;              /* > 0: mini-batch k-means streamed over the whole scene
                                   instead of Lloyd on a sample */
    int64_t steps;              /* mini-batch steps, 0 = one pass over the scene */
    int tile;                   /* tile side in pixels, 0 = 512 */
    int ram_mb;                 /* tile buffers budget in MiB, 0 = 256 */
    const char *const *creation_options; /* NULL-terminated "NAME=VALUE", or NULL */
    const char *const *inputs;  /* extra paths the outputs must not overwrite, or NULL */
} cn_cluster_options;

/* Draws the fitting sample of image (see sample above) in one pass over the scene, tile by tile:
 * a uniform sample without replacement of the valid pixels (those of the smallest keys hashed
 * from o->kmeans.seed and the pixel's position, so the sample and the fit do not depend on the
 * tile size), in scene order. *pixels (count × bands, malloc'd, free()) and *count. Errors: CN_EINVAL (no valid pixel: "IMAGE: has no valid pixel
 * (every pixel is nodata)"), CN_EIO, CN_ENOMEM, CN_ECANCELLED. */
cn_status cn_cluster_sample(cn_raster *image, const cn_cluster_options *o, float **pixels,
                            int64_t *count);

/* Fits a model on image: Lloyd on the sample, or with o->batch > 0 mini-batch k-means over
 * every valid pixel of the scene (initialised on a sample of max(3·batch, 3·k) pixels).
 * Errors: as cn_cluster_sample and cn_kmeans_fit. */
cn_status cn_cluster_fit(cn_raster *image, const cn_cluster_options *o, cn_kmeans **out);

/* Labels every pixel of image with km into a segment map at path: one band of ids 1..k (0 for
 * invalid pixels and nodata 0), Byte (UInt16 past 255 clusters), the image's georeference, a
 * colour table and category names "segment N", and in the dataset metadata KMEANS_K,
 * KMEANS_BANDS, KMEANS_CENTROIDS (JSON rows), KMEANS_INERTIA (over the pixels of this scene),
 * KMEANS_FIT_INERTIA, KMEANS_ITERATIONS and KMEANS_FIT_PIXELS (when the model knows them).
 * Tile by tile in bounded memory, written atomically. *inertia (may be NULL) gets the scene's
 * inertia. Errors: CN_ESHAPE (band count: "IMAGE: has 5 bands, the model has 6"), CN_EINVAL,
 * CN_EIO, CN_ENOMEM, CN_ECANCELLED (no output is left). */
cn_status cn_cluster_label(const cn_kmeans *km, cn_raster *image, const char *path,
                           const cn_cluster_options *o, double *inertia);

#endif
