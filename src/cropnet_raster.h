/*
 * cropnet_raster.h — rasters in and out, per-pixel prediction and tiled classification (public).
 *
 * Included by cropnet.h; the declarations are here so the raster path has one place:
 *  - cn_raster: any raster GDAL reads (GeoTIFF, ENVI, VRT, ...), read in windows as pixel-
 *    interleaved float32 with a validity mask, or as integer labels;
 *  - cn_raster_writer: a new GeoTIFF written atomically (temporary file beside the target, renamed
 *    on commit), with the label map (cn_labelmap: colour table, category names, nodata 0) on top;
 *  - cn_class_info and the model's class table ("classes" metadata, JSON);
 *  - cn_pixel_model: a per-pixel model read once from a cn_model, predicting class ids,
 *    confidences and probabilities for any number of pixels in fixed-size batches;
 *  - cn_classify: a whole scene classified tile by tile in bounded memory.
 *
 * Threads: a cn_raster (a GDAL dataset) and a cn_pixel_model (whose network layers hold their own
 * forward buffers) serve one thread at a time; open one of each per thread.
 */
#ifndef CROPNET_RASTER_H
#define CROPNET_RASTER_H

#include "cropnet.h" /* cn_status, cn_model, cn_progress_fn (it includes this file at its end) */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- reading rasters */

typedef struct cn_raster cn_raster;

/* Opens path read-only with GDAL. Refused with "PATH: not a raster GDAL can read" (CN_EFORMAT)
 * when GDAL cannot open it as a raster, has no band, or is 0 pixels wide or high; "PATH: no such
 * file" (CN_EIO) when it does not exist. Errors: CN_EIO, CN_EFORMAT, CN_ENOMEM. */
cn_status cn_raster_open(const char *path, cn_raster **out);
void cn_raster_close(cn_raster *r); /* NULL is a no-op */

const char *cn_raster_path(const cn_raster *r); /* as given to open; borrowed */
int cn_raster_width(const cn_raster *r);
int cn_raster_height(const cn_raster *r);
int cn_raster_bands(const cn_raster *r);

/* The geotransform (GDAL order: x0, dx, rx, y0, ry, dy). Returns false, with GDAL's default
 * (0, 1, 0, 0, 0, 1) in gt, when the raster has none. */
bool cn_raster_geotransform(const cn_raster *r, double gt[6]);
/* The CRS as WKT, "" when the raster has none; borrowed. */
const char *cn_raster_wkt(const cn_raster *r);

/* Per band (1-based, 1..bands; out of range gives false / NULL / ""): the nodata value (false
 * when none), GDAL's name of the data type ("Byte", "Int16", "Float32", ...) and the band's
 * description ("" when none; borrowed). */
bool cn_raster_nodata(const cn_raster *r, int band, double *value);
const char *cn_raster_band_type(const cn_raster *r, int band);
const char *cn_raster_band_description(const cn_raster *r, int band);

/* Reads the window (x, y, w, h) of every band as float32, pixel-interleaved: pixels[(row·w +
 * col)·bands + b], h·w·bands values. valid (h·w bytes, may be NULL) gets 1 for a valid pixel and
 * 0 when any band equals that band's nodata value (compared in the band's own precision) or is
 * NaN/Inf. The window must lie inside the raster (w, h >= 1). Errors: CN_EINVAL (window),
 * CN_EIO (GDAL read failure: truncated or corrupt file), CN_ENOMEM. */
cn_status cn_raster_read(cn_raster *r, int x, int y, int w, int h, float *pixels, uint8_t *valid);

/* Like cn_raster_read, but the window may reach outside the raster: what lies outside is filled
 * by reflection at the edges without repeating the edge pixel (numpy's "reflect": -1 → 1,
 * width → width - 2), repeated for windows wider than the raster. This is the halo read of
 * models that look at a neighbourhood. The window must intersect the raster. */
cn_status cn_raster_read_reflect(cn_raster *r, int x, int y, int w, int h, float *pixels,
                                 uint8_t *valid);

/* Reads band 1 of the window as class ids into out (h·w values). Pixels equal to the band's
 * nodata value read as 0 (unlabelled). A value that is not an integer in 0..65535 is refused
 * with a message giving the value and its position (CN_EFORMAT). */
cn_status cn_raster_read_labels(cn_raster *r, int x, int y, int w, int h, int32_t *out);

/* CN_OK when a and b share a pixel grid: same size, geotransforms equal within 1e-6 of a pixel
 * (or both absent), and the same CRS (OSRIsSame; or both without). Otherwise CN_EINVAL with a
 * message naming b and both values, e.g. "B: is 100 x 80 pixels, A is 120 x 90". */
cn_status cn_raster_same_grid(const cn_raster *a, const cn_raster *b);

/* ---------------------------------------------------------------- writing rasters */

/* Sample types of written rasters. */
typedef enum cn_sample_type {
    CN_SAMPLE_BYTE = 0,
    CN_SAMPLE_UINT16,
    CN_SAMPLE_INT16,
    CN_SAMPLE_INT32,
    CN_SAMPLE_FLOAT32
} cn_sample_type;

typedef struct cn_raster_writer cn_raster_writer;

/* Georeference of a new raster: both fields optional (NULL). */
typedef struct cn_georef {
    const double *geotransform; /* 6 values, GDAL order, or NULL */
    const char *wkt;            /* CRS, or NULL / "" */
} cn_georef;

/* Creates a GeoTIFF at a temporary path beside path (see cn_output: path must differ from every
 * one of the NULL-terminated inputs, and its folder be writable). creation_options is a
 * NULL-terminated list of "NAME=VALUE" (may be NULL) applied over the defaults TILED=YES,
 * COMPRESS=DEFLATE, BLOCKXSIZE=256, BLOCKYSIZE=256, BIGTIFF=IF_SAFER. Nothing appears at path
 * before cn_raster_writer_commit. Errors: CN_EINVAL, CN_EIO, CN_ENOMEM. */
cn_status cn_raster_writer_create(const char *path, const char *const *inputs, int width,
                                  int height, int bands, cn_sample_type type, cn_georef georef,
                                  const char *const *creation_options, cn_raster_writer **out);

/* Band metadata (band 1-based). */
cn_status cn_raster_writer_set_nodata(cn_raster_writer *w, int band, double nodata);
cn_status cn_raster_writer_set_description(cn_raster_writer *w, int band, const char *text);

/* Writes a window of every band from pixel-interleaved float32 values (h·w·bands), converted
 * to the sample type with rounding and clamping by GDAL. Errors: CN_EINVAL (window), CN_EIO. */
cn_status cn_raster_writer_write(cn_raster_writer *w, int x, int y, int width, int height,
                                 const float *pixels);

/* Writes a window of a one-band raster from int32 values. Errors: CN_EINVAL, CN_EIO. */
cn_status cn_raster_writer_write_int(cn_raster_writer *w, int x, int y, int width, int height,
                                     const int32_t *values);

/* Finishes the file (flush, close), then renames it and its .aux.xml sidecar into place. The
 * writer is freed whatever the result; on failure nothing is left at path and an earlier file
 * there is untouched. Errors: CN_EIO. */
cn_status cn_raster_writer_commit(cn_raster_writer *w);
/* Discards the temporary file(s) and frees the writer. NULL is a no-op. */
void cn_raster_writer_abort(cn_raster_writer *w);

/* ---------------------------------------------------------------- classes */

#define CN_CLASS_NAME_MAX 128
#define CN_CLASS_ID_MAX 65535

/* One class of a model or a label map. */
typedef struct cn_class_info {
    int id;                          /* 1..CN_CLASS_ID_MAX */
    char name[CN_CLASS_NAME_MAX];    /* UTF-8, NUL-terminated, may be "" */
    uint8_t rgb[3];                  /* display colour */
} cn_class_info;

/* A deterministic colour for a class id without one: a fixed table of 20 distinct colours for
 * ids 1..20, then hues spread by the golden ratio. id 0 gives black. */
void cn_class_default_rgb(int id, uint8_t rgb[3]);

/* Parses the "classes" metadata: a JSON array [{"id": 1, "name": "...", "color": "#rrggbb"}]
 * ("name" and "color" optional; a missing colour gets the default). Ids must be distinct integers
 * in 1..65535. *out is malloc'd (free()); *count >= 1. Errors: CN_EFORMAT (message names the
 * fault; prefix it with the file), CN_ENOMEM. */
cn_status cn_classes_from_json(const char *json, cn_class_info **out, size_t *count);
/* Formats classes as that JSON array; *out is malloc'd (free()). Errors: CN_EINVAL, CN_ENOMEM. */
cn_status cn_classes_to_json(const cn_class_info *classes, size_t count, char **out);

/* ---------------------------------------------------------------- label maps */

typedef struct cn_labelmap cn_labelmap;

/* Creates a label map: a one-band GeoTIFF, Byte when max_id <= 255 else UInt16, nodata 0, a
 * colour table with entries 0..max_id (0 and gaps transparent black, each class its colour) and
 * category names (0 "unclassified", gaps "", each class its name), the given georeference, the
 * creation options and defaults of cn_raster_writer_create. Written atomically like it.
 * classes may be NULL when nclasses is 0; every class id must be <= max_id, max_id in
 * 1..65535. Errors: CN_EINVAL, CN_EIO, CN_ENOMEM. */
cn_status cn_labelmap_create(const char *path, const char *const *inputs, int width, int height,
                             cn_georef georef, int max_id, const cn_class_info *classes,
                             size_t nclasses, const char *const *creation_options,
                             cn_labelmap **out);
/* Writes a window of class ids (h·w values, each in 0..max_id, else CN_EINVAL). */
cn_status cn_labelmap_write(cn_labelmap *lm, int x, int y, int w, int h, const int32_t *ids);
/* Sets a dataset metadata item (default domain; GTiff keeps it in the file). Errors: CN_EINVAL,
 * CN_EIO. */
cn_status cn_labelmap_set_metadata(cn_labelmap *lm, const char *key, const char *value);
/* As cn_raster_writer_commit / _abort. */
cn_status cn_labelmap_commit(cn_labelmap *lm);
void cn_labelmap_abort(cn_labelmap *lm);

/* ---------------------------------------------------------------- per-pixel prediction */

/* A model's raster metadata, read once: band count, classes, normalisation, receptive field.
 * The predictor keeps a reference to the model's network (the model itself may be freed after
 * open) and runs it, using the layers' own forward buffers: one predictor per network and
 * thread. */
typedef struct cn_pixel_model cn_pixel_model;

/* Reads meta "bands", "classes", "input" (must be "pixel"), "receptive_field" (1 or absent),
 * optional "band_names" (JSON array of strings), tensors "norm.mean" and "norm.std" (length
 * bands; both optional, absent = no normalisation) and checks them against the network (input
 * and output widths where its layers fix them). A model without that metadata, or with sizes
 * that do not agree, is refused with a message saying what is missing or which sizes differ
 * (CN_EFORMAT); a patch model with "...: is a patch model (input \"patch\"); only per-pixel models
 * are supported here" (CN_EINVAL). Errors: CN_EFORMAT, CN_EINVAL, CN_ENOMEM. */
cn_status cn_pixel_model_open(cn_model *model, cn_pixel_model **out);
void cn_pixel_model_close(cn_pixel_model *pm); /* NULL is a no-op */

int cn_pixel_model_bands(const cn_pixel_model *pm);
/* The classes, in network output order; borrowed. */
const cn_class_info *cn_pixel_model_classes(const cn_pixel_model *pm, size_t *count);
int cn_pixel_model_max_id(const cn_pixel_model *pm);
/* The name the model expects for band b (1-based), or NULL when it stores none. */
const char *cn_pixel_model_band_name(const cn_pixel_model *pm, int band);

/* Pixels processed per forward pass (and so the predictor's buffer size). */
#define CN_PREDICT_BATCH 4096

/* Classifies n pixels (pixels: n × bands, pixel-interleaved): normalises, runs the network in
 * batches of CN_PREDICT_BATCH, applies softmax and writes labels[i] = class id of the most
 * probable class (ties: the first), confidence[i] = its probability, probs[i·K + k] = probability
 * of class k (network output order); confidence and probs may be NULL. Errors: CN_ESHAPE (the
 * network's output does not fit), CN_ENOMEM. */
cn_status cn_pixel_model_predict(cn_pixel_model *pm, const float *pixels, int64_t n,
                                 int32_t *labels, float *confidence, float *probs);

/* ---------------------------------------------------------------- tiled classification */

typedef struct cn_classify_options {
    int tile;                 /* tile side in pixels; 0 = 512 */
    int ram_mb;               /* memory budget for tile buffers in MiB; 0 = 256 */
    const char *confidence;   /* optional Float32 map of the top probability (nodata 0) */
    const char *probabilities;/* optional Float32 map, one band per class (nodata -1) */
    const char *model_path;   /* optional: never overwritten (refused as an output) */
    const char *const *creation_options; /* NULL-terminated "NAME=VALUE", or NULL */
    cn_progress_fn progress;  /* may be NULL */
    void *progress_data;
} cn_classify_options;

/* The tile a budget allows. Each pixel of a tile costs
 *     bytes_per_pixel = 4·bands (input) + 1 (validity) + 4 (label) + 4 (confidence, if asked)
 *                       + 4·classes (probabilities, if asked)
 * so the tile keeps its width min(tile, width) and its height becomes
 *     min(tile, height, max(1, ram_mb·2^20 / (bytes_per_pixel · tile width))).
 * A patch model (cropnet_patches.h) reads the tile with a halo of P/2 pixels on every side;
 * cn_classify then lowers the tile height until the input with its halo and the outputs fit the
 * budget again (one row at least).
 * The predictor's batch buffers (CN_PREDICT_BATCH × layer widths, or CN_PATCH_BATCH patches) and
 * GDAL's block cache (GDAL_CACHEMAX) come on top and do not depend on the scene size either. */
typedef struct cn_tile_plan {
    int tile_w, tile_h;       /* tile size used */
    size_t bytes_per_pixel;   /* as above */
    size_t tile_bytes;        /* tile_w · tile_h · bytes_per_pixel */
} cn_tile_plan;

cn_status cn_classify_plan(int width, int height, int bands, int classes, bool confidence,
                           bool probabilities, int tile, int ram_mb, cn_tile_plan *plan);

/* Classifies image with model into a label map at map_path (see cn_labelmap_create), and the
 * optional confidence and probability maps; every output gets the image's georeference. A per-
 * pixel model goes through cn_pixel_model, a patch model ("input" = "patch") through
 * cn_patch_model, its tiles read with their halo reflected at the scene's edges: the map is then
 * identical, pixel for pixel, whatever the tile size.
 * Invalid pixels (cn_raster_read) become 0 in the map and 0 confidence. All outputs are written
 * atomically: on any failure or cancellation none exists and existing files at those paths are
 * untouched. Refused (CN_EINVAL): a band count that differs from the model's ("IMAGE: has 200
 * bands, the model expects 204"), band descriptions that differ from the model's band_names, an
 * output equal to the image, the model or another output, a model whose "input" is neither
 * "pixel" nor "patch".
 * Errors: CN_EINVAL, CN_EFORMAT, CN_EIO, CN_ENOMEM, CN_ECANCELLED. */
cn_status cn_classify(const char *image, cn_model *model, const char *map_path,
                      const cn_classify_options *opt);
/* The same with an open raster (left open). The model is read before the first progress call
 * only (the network is kept by reference), so a callback may free the model but not the image. */
cn_status cn_classify_raster(cn_raster *image, cn_model *model, const char *map_path,
                             const cn_classify_options *opt);

#endif
