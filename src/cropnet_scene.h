/*
 * cropnet_scene.h — where scenes come from: the hyperspectral benchmarks' MATLAB files converted
 * to GeoTIFF, and the synthetic field scene that is cropnet's embedded default.
 *
 *  - cn_benchmark: the class tables (ids, names, colours) of the classic benchmarks (Salinas and
 *    SalinasA, Pavia Centre, Pavia University, Indian Pines), found by scene, variable or file
 *    name;
 *  - cn_mat_list / cn_mat_import: MAT files (v5 with compressed elements, v7.3/HDF5) read with
 *    matio after a structural check of their own; a 3-D numeric array becomes a multi-band GeoTIFF
 *    of its own data type, a 2-D array of ids a label map with the benchmark's class names;
 *  - cn_synth: a deterministic, georeferenced synthetic scene of crop parcels and its labels,
 *    streamed tile by tile with bounded memory whatever its size.
 *
 * Included by cropnet.h; see there for cn_status and the error convention.
 */
#ifndef CROPNET_SCENE_H
#define CROPNET_SCENE_H

#include "cropnet.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- benchmark class tables */

typedef struct cn_benchmark_class {
    int id;           /* the id used by the benchmark's ground truth, 1-based */
    const char *name; /* as the benchmark's distributors spell it */
    uint8_t rgb[3];   /* display colour, distinct within the benchmark */
} cn_benchmark_class;

typedef struct cn_benchmark {
    const char *key;   /* "salinas", "pavia_centre", "pavia_university", "indian_pines" */
    const char *title; /* "Salinas (AVIRIS)", ... */
    size_t count;      /* classes, ids 1..count */
    const cn_benchmark_class *classes;
} cn_benchmark;

/* The benchmark a name refers to, or NULL. The name may be a key, a MAT variable name or a file
 * name (folders and the .mat extension are ignored, as are the suffixes _gt and _corrected, and
 * case): "salinas", "SalinasA_gt", "paviaU", "pavia_gt", "/data/Indian_pines_corrected.mat". */
const cn_benchmark *cn_benchmark_find(const char *name);

/* The i-th known benchmark (0-based), NULL past the last: for listing them. */
const cn_benchmark *cn_benchmark_at(size_t i);

/* ---------------------------------------------------------------- MAT files */

#define CN_MAT_MAX_RANK 8 /* more dimensions than this are listed as rank only */

typedef struct cn_mat_variable {
    char *name;            /* owned by the list */
    const char *mat_class; /* "double", "single", "int8" ... "uint64", "char", "logical",
                              "struct", "cell", "sparse", "object", "function", "opaque", "empty" */
    bool complex;          /* complex numbers (not importable) */
    int rank;              /* number of dimensions (MATLAB's: at least 2 for arrays) */
    uint64_t dims[CN_MAT_MAX_RANK]; /* MATLAB order: rows, cols, bands...; first 8 */
} cn_mat_variable;

typedef struct cn_mat_list {
    int version;              /* 5 (MAT v5, v7) or 73 (v7.3, HDF5) */
    size_t count;
    cn_mat_variable *vars;    /* count entries, in file order */
} cn_mat_list;

/* Lists the variables of a MAT file. MAT files are read one at a time per process (matio's logging
 * and the serial HDF5 library are not thread-safe): concurrent calls of cn_mat_list_read and
 * cn_mat_import wait for each other. The file is checked first: a v5 file's top-level elements
 * must lie inside the file and every compressed element must inflate completely (zlib checksum
 * included) within its own bytes, so a truncated or corrupt file is refused here rather than
 * half-read. Errors: CN_EIO (missing, unreadable), CN_EFORMAT ("PATH: not a MAT file", "PATH:
 * truncated MAT file: ...", "PATH: corrupt MAT file: ..."), CN_ENOMEM. On success free the list
 * with cn_mat_list_free; on error it is left empty. */
cn_status cn_mat_list_read(const char *path, cn_mat_list *list);
void cn_mat_list_free(cn_mat_list *list);

/* True when v can be imported: a real (not complex) numeric or logical array of 2 or 3
 * dimensions, none of them 0, after dropping trailing dimensions of 1. */
bool cn_mat_variable_importable(const cn_mat_variable *v);

typedef enum cn_scene_kind {
    CN_SCENE_IMAGE = 0, /* a multi-band image (3-D array, or 2-D array that is not class ids) */
    CN_SCENE_LABELS     /* a label map (2-D array of integers in 0..65535; 0 = unlabelled) */
} cn_scene_kind;

typedef struct cn_import_options {
    const char *variable;      /* the variable to convert; NULL: the only importable one, else
                                  the largest (ties: the first) */
    cn_progress_fn progress;   /* may be NULL */
    void *progress_data;
} cn_import_options;

typedef struct cn_import_report {
    char variable[256];        /* the variable converted (truncated if longer) */
    bool picked;               /* true when chosen by default rather than named */
    size_t importable;         /* how many importable variables the file holds */
    int version;               /* 5 or 73 */
    cn_scene_kind kind;
    const char *mat_class;     /* MATLAB's class: "int16", "double", ... (static) */
    const char *stored_as;     /* the integer type a double or single array is stored as in a
                                  v5 file ("int16" for SalinasA), which the GeoTIFF keeps; NULL
                                  when the file stores the class itself */
    const char *gdal_type;     /* GDAL's name of the written type: "Int16", "Byte", ... (static) */
    int64_t width, height, bands; /* of the GeoTIFF: cols, rows, bands of the array */
    const cn_benchmark *benchmark; /* the recognised benchmark (labels only), or NULL */
    int max_id;                /* labels: the largest id */
    int64_t labelled;          /* labels: pixels with an id > 0 */
} cn_import_report;

/* Converts one variable of the MAT file src into the GeoTIFF dst, written atomically (nothing
 * appears at dst on failure; dst must differ from src and its folder be writable).
 *
 * A 3-D array (rows x cols x bands, stored column-major: element (r, c, b) at
 * r + rows*(c + cols*b)) becomes a cols x rows GeoTIFF of `bands` bands keeping its data type
 * (int8 as signed Byte, uint8 Byte, int16, uint16, int32, uint32, int64, uint64, single Float32,
 * double Float64, logical Byte; a double or single array that MATLAB stored as integers, as it
 * does for integer-valued doubles, keeps that integer type: SalinasA is double stored as int16 and
 * becomes Int16), pixel-interleaved, tiled 256 x 256, DEFLATE (PREDICTOR=2 for
 * integers, 3 for floats), without georeference (a MAT file has none). A 2-D array whose values
 * are all integers in 0..65535 becomes a label map (Byte, UInt16 past 255; nodata 0; colour
 * table and category names: the benchmark's classes when src or the variable is a known
 * benchmark, else "class N"); any other 2-D array a one-band image. The array is read in strips
 * of whole tile rows, so memory stays near one strip (at most 64 MiB or one tile row).
 *
 * report may be NULL. Errors: CN_EIO, CN_EFORMAT, CN_EINVAL ("SRC: no variable 'x' (variables:
 * a, b)", "SRC: variable 'x' is a struct, not a numeric array", "SRC: variable 'x' is 1-D
 * (1 x 204); expected rows x cols [x bands]", output = input), CN_EOVERFLOW (dimensions whose
 * product does not fit), CN_ENOMEM, CN_ECANCELLED. */
cn_status cn_mat_import(const char *src, const char *dst, const cn_import_options *options,
                        cn_import_report *report);

/* ---------------------------------------------------------------- synthetic scene */

#define CN_SYNTH_MAX_SIDE 100000 /* width and height limit (the field table grows with the area) */
#define CN_SYNTH_MAX_BANDS 2000
#define CN_SYNTH_MAX_CLASSES 64

typedef struct cn_synth_options {
    int width, height;    /* pixels; at least 32 each (default 256 x 256) */
    int bands;            /* 3..2000 (default 32), spread over 400-2500 nm */
    int classes;          /* 2..64 (default 6) */
    uint64_t seed;        /* default 1 */
    int threads;          /* generator threads; 0 = the number of CPUs */
    cn_progress_fn progress; /* may be NULL */
    void *progress_data;
} cn_synth_options;

/* The embedded default: 256 x 256 pixels, 32 bands, 6 classes, seed 1, threads 0. */
void cn_synth_defaults(cn_synth_options *options);

/* The name of synthetic class id (1-based): Broccoli, Celery, Fallow, Grapes, Lettuce, Vineyard,
 * Corn, Stubble, ... then "Crop_N"; the colour is cn_benchmark-like and distinct. */
const char *cn_synth_class_name(int id);
void cn_synth_class_rgb(int id, uint8_t rgb[3]);

/* The scene's georeference: WGS 84 / UTM zone 10N (EPSG:32610) in the Salinas Valley, 3.7 m
 * pixels (AVIRIS flown low). gt gets GDAL's six geotransform values. */
void cn_synth_geotransform(double gt[6]);
#define CN_SYNTH_EPSG 32610
#define CN_SYNTH_NODATA (-9999)

/* Writes a synthetic field scene: image (Int16 reflectance x 10000, `bands` bands, nodata
 * CN_SYNTH_NODATA on every band, tiled DEFLATE GeoTIFF) and labels (its label map: class ids
 * 1..classes per parcel, 0 on roads, hedges and the nodata border; colour table and class names).
 * Crop parcels on a jittered grid, each one class, with a smooth class spectrum, a per-parcel
 * gain and offset, low-frequency variation and per-pixel sensor noise. The same options give
 * byte-identical pixels whatever the thread count. Tiles are generated and written one at a time
 * per thread, so memory is bounded by threads x 256 x 256 x bands samples. Both files are
 * written atomically, and both or neither appear. Errors: CN_EINVAL (options, image = labels),
 * CN_EIO, CN_ENOMEM, CN_ECANCELLED. */
cn_status cn_synth_write(const char *image, const char *labels, const cn_synth_options *options);

#endif
