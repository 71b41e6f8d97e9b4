/*
 * cropnet_data.h — training data and measuring (public; included by cropnet.h).
 *
 *  - cn_samples_from_rasters: the labelled pixels of an image as a pixel matrix X (N × bands),
 *    class indices y and the class list, ready for cn_train;
 *  - cn_band_stats: per-band normalisation statistics of X;
 *  - cn_split_labels: a stratified, seeded train/test split of a label raster, optionally in
 *    whole spatial blocks with a buffer;
 *  - cn_labels_from_vector / cn_labels_resolve: polygons or points with a class field rasterised
 *    onto an image's grid;
 *  - cn_confusion_from_rasters / cn_metrics: a map measured against a reference label raster.
 *
 * Label rasters: one band of integers 0..65535, 0 = unlabelled (a nodata value other than 0 also
 * reads as unlabelled); class ids are 1..65535. A value that is not such an integer is refused.
 */
#ifndef CROPNET_DATA_H
#define CROPNET_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Classes are cn_class_info (cropnet_raster.h): the id, the label raster's category name for it
 * ("" when none) and its colour-table entry (cn_class_default_rgb when the raster has none). */

/* ---------------------------------------------------------------- labelled samples */

typedef struct cn_samples {
    cn_tensor *x;            /* N × bands float32, pixel-interleaved (owned reference) */
    cn_tensor *y;            /* N class indices, 0-based into classes, as floats (owned) */
    int32_t *rows, *cols;    /* N pixel positions (0-based) of the samples (owned) */
    int64_t count;           /* N */
    int bands;               /* image band count */
    cn_class_info *classes;  /* the classes present among the samples, by ascending id (owned) */
    size_t nclasses;
    int64_t skipped;         /* labelled pixels skipped because the image is invalid there */
} cn_samples;

/* Reads every labelled pixel of labels_path (ids > 0) from image_path into out, scanning the
 * rasters in row strips (memory: the samples plus one strip). Pixels invalid in the image (a band
 * equal to its nodata value, NaN or Inf) are skipped and counted in out->skipped; classes whose
 * pixels are all skipped are left out of the class list. Refused (CN_EINVAL): labels whose size
 * or georeference differ from the image ("LABELS: is 86 x 83, the image IMAGE is 90 x 83",
 * "LABELS: different georeference from the image IMAGE"), labels with more than one band, a
 * label raster without a labelled pixel, or none valid in the image. CN_EFORMAT: a label value
 * that is not an integer in 0..65535, a file GDAL cannot read. Errors also CN_EIO, CN_ENOMEM,
 * CN_EOVERFLOW. On error out is zeroed. Free with cn_samples_free. */
cn_status cn_samples_from_rasters(const char *image_path, const char *labels_path,
                                  cn_samples *out);
void cn_samples_free(cn_samples *s); /* idempotent; zeroes s */

/* Per-column mean and population standard deviation of X (N × C, N >= 1), accumulated in double;
 * a standard deviation of 0 (a constant band) is stored as 1 so that (x - mean) / std never
 * divides by zero. mean and std are resized to C. Errors: CN_EINVAL (N = 0 or X not 2-D),
 * CN_ENOMEM. */
cn_status cn_band_stats(const cn_tensor *x, cn_tensor *mean, cn_tensor *std);

/* ---------------------------------------------------------------- train/test split */

typedef struct cn_split_options {
    double train_fraction; /* in (0, 1), used when per_class is 0; 0 means the default 0.05 */
    int64_t per_class;     /* > 0: exactly this many training pixels per class */
    uint64_t seed;         /* same seed and inputs give the same split, bit for bit */
    int block;             /* > 0: block side in pixels (spatial-block mode), 0: pixel mode */
    int buffer;            /* >= 0: test pixels within this Chebyshev distance of a training
                              pixel are dropped from the test raster */
    cn_progress_fn progress; /* may be NULL */
    void *progress_data;
} cn_split_options;

#define CN_SPLIT_DEFAULT_FRACTION 0.05

/* Per-class outcome of a split. */
typedef struct cn_split_class {
    int id;
    int64_t labelled;      /* labelled pixels of the class */
    int64_t train, test;   /* pixels in each output */
    int64_t dropped;       /* labelled pixels in neither (--buffer) */
} cn_split_class;

typedef struct cn_split_result {
    cn_split_class *classes; /* by ascending id (owned; cn_split_result_free) */
    size_t nclasses;
    int64_t train, test, dropped; /* totals */
} cn_split_result;

/* Splits the labelled pixels of labels_path into two label rasters, train_path and test_path,
 * which share nothing: every labelled pixel is in exactly one of them, or in neither when the
 * buffer drops it from the test side.
 *
 * Pixel mode (block 0): per class with n labelled pixels, t of them chosen uniformly at random go
 * to train, the others to test: t = per_class, or round(train_fraction · n) clamped to
 * [1, n - 1] when n >= 2 (a class of one pixel gets t = round(fraction), i.e. test for f < 0.5).
 * A class with fewer labelled pixels than per_class is refused ("LABELS: class 7 has 12 labelled
 * pixels, fewer than the 20 asked (--per-class)").
 *
 * Block mode (block B > 0): the grid is cut into B × B blocks from the top-left corner; each
 * block holding labelled pixels belongs to the class that is its majority (ties: the smaller id).
 * Per class, its blocks are taken in a random order into train until the class's pixels in them
 * reach the target t above (per_class or round(fraction · n)); with a fraction, a class with two
 * or more blocks always keeps at least one for test. Every labelled pixel goes to the side of
 * its block, so blocks are never divided. With per_class, a class whose majority blocks hold
 * fewer pixels of it than asked is refused likewise.
 *
 * Buffer R > 0: a test pixel whose Chebyshev distance to the nearest training pixel is <= R is
 * dropped. So a test patch of side <= 2R + 1 centred on a test pixel never covers a training
 * pixel; and training and test patches of side P never overlap when R >= P - 1.
 *
 * Outputs: label rasters on the labels' grid (size, geotransform, CRS), ids kept, 0 elsewhere,
 * Byte (UInt16 past id 255), tiled, DEFLATE, nodata 0, the labels' colour table and category
 * names. Both are written to temporaries and renamed into place only when both are complete:
 * on failure neither path is touched. Memory: one bit per pixel of the scene plus one row strip.
 * result (may be NULL) receives the counts. Errors: CN_EINVAL (options, no labelled pixel, too
 * few pixels, output equal to the input or to each other), CN_EFORMAT, CN_EIO, CN_ENOMEM,
 * CN_ECANCELLED. */
cn_status cn_split_labels(const char *labels_path, const char *train_path, const char *test_path,
                          const cn_split_options *options, cn_split_result *result);
void cn_split_result_free(cn_split_result *r);

/* ---------------------------------------------------------------- vector labels */

/* Rasterises the features of the first layer of vector_path (GeoJSON, Shapefile, GeoPackage,
 * any OGR format) that have a class in field onto image_path's grid and writes the label raster
 * out_path (atomically, like cn_split_labels' outputs).
 *  - Integer (or integral real) field: the value is the class id (1..65535, else refused).
 *  - Text field: the distinct non-empty values, sorted bytewise, get ids 1..K and become the
 *    category names.
 *  - Features whose field is null or empty are skipped; geometries are reprojected from the
 *    layer's CRS to the image's (traditional GIS axis order; none if either lacks a CRS).
 *  - Polygons burn the pixels whose centre is inside, points the pixel they fall in, lines the
 *    pixels they cross; where features overlap, the later one wins.
 * Refused: a field that does not exist ("VECTOR: no field 'crop' (fields: id, name)"), no
 * feature overlapping the image, a file OGR cannot open. Errors: CN_EINVAL, CN_EFORMAT, CN_EIO,
 * CN_ENOMEM. classes/nclasses (may be NULL) receive the classes burnt (malloc'd; free()). */
cn_status cn_labels_from_vector(const char *vector_path, const char *field, const char *image_path,
                                const char *out_path, cn_class_info **classes, size_t *nclasses);

/* A label raster from either kind of source. */
typedef struct cn_label_source {
    char *path;      /* a label raster to read (owned) */
    char *temp_dir;  /* the temporary folder holding path when rasterised from a vector, or NULL */
    cn_class_info *classes; /* a vector's classes (cn_labels_from_vector), else NULL (owned) */
    size_t nclasses;
} cn_label_source;

/* When path opens as a raster, out->path is a copy of it (field and image unused). Otherwise it
 * must be a vector file: field and image_path are then required ("VECTOR: is a vector file:
 * give the class field (--field)"), and it is rasterised with cn_labels_from_vector into a new
 * temporary folder (under $TMPDIR or /tmp) removed by cn_label_source_free. */
cn_status cn_labels_resolve(const char *path, const char *field, const char *image_path,
                            cn_label_source *out);
void cn_label_source_free(cn_label_source *s); /* removes any temporary; idempotent */

/* ---------------------------------------------------------------- accuracy */

/* A confusion matrix: rows are the reference classes, columns the predicted values. */
typedef struct cn_confusion {
    cn_class_info *classes;  /* the reference classes (ids > 0 present in the reference), by
                                ascending id; names and colours from the reference, else from
                                the map (owned) */
    size_t nclasses;         /* K, the rows */
    int *predicted_ids;      /* the columns: the K reference ids in the same order, then ids
                                predicted but absent from the reference (ascending), then 0 when
                                some reference pixel was left unclassified (owned) */
    size_t ncols;            /* >= K */
    int64_t *counts;         /* K × ncols, row-major (owned) */
} cn_confusion;

/* Counts every pixel labelled in reference_path (id > 0) by its value in map_path; pixels
 * unlabelled in the reference are skipped, and a map value of 0 counts in an "unclassified"
 * column (a miss). The rasters are read in row strips. Refused (CN_EINVAL): different size or
 * georeference (message as cn_samples_from_rasters, naming the map), no labelled reference pixel.
 * Errors also CN_EFORMAT, CN_EIO, CN_ENOMEM. On error out is zeroed. */
cn_status cn_confusion_from_rasters(const char *map_path, const char *reference_path,
                                    cn_confusion *out);

/* Builds a confusion matrix from counts given in memory (K reference ids, ncols column ids,
 * counts K × ncols): for callers and tests that have the matrix already. The column ids must
 * start with the K reference ids in the same order. Errors: CN_EINVAL, CN_ENOMEM. */
cn_status cn_confusion_new(const int *ids, size_t k, const int *predicted_ids, size_t ncols,
                           const int64_t *counts, cn_confusion *out);
void cn_confusion_free(cn_confusion *c); /* idempotent; zeroes c */

typedef struct cn_class_metrics {
    double precision; /* diagonal / column sum (0 when nothing was predicted as the class) */
    double recall;    /* diagonal / row sum (the class's accuracy) */
    double f1;        /* 2·p·r / (p + r), 0 when p + r = 0 */
    int64_t support;  /* row sum: reference pixels of the class */
} cn_class_metrics;

typedef struct cn_metrics {
    double oa;        /* overall accuracy: diagonal / total */
    double aa;        /* average accuracy: mean recall over the reference classes with support
                         (all K of them when the matrix comes from rasters) */
    double kappa;     /* Cohen's kappa (po - pe) / (1 - pe), pe = Σ row_k·col_k / total²;
                         1 when pe = 1 (a single class, all correct) */
    int64_t total;    /* pixels counted */
    cn_class_metrics *classes; /* K entries, in the confusion's row order (owned) */
    size_t nclasses;
} cn_metrics;

/* The figures of a confusion matrix. Errors: CN_EINVAL (no pixel counted), CN_ENOMEM. */
cn_status cn_metrics_compute(const cn_confusion *c, cn_metrics *out);
void cn_metrics_free(cn_metrics *m); /* idempotent; zeroes m */

#endif
