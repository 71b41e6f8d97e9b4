/*
 * scene_impl.h — what the scene files share (internal, not part of the public API): the
 * structural check of MAT files, matio's messages captured per thread, and the GeoTIFF cube
 * writer used by both the importer and the synthetic scene.
 */
#ifndef CROPNET_SCENE_IMPL_H
#define CROPNET_SCENE_IMPL_H

#include "cn_gdal.h"
#include "cn_output.h"
#include "cropnet.h"

#include <matio.h>

/* ---------------------------------------------------------------- MAT file layout (mat_check.c) */

/* A top-level element of a v5 file, as read here independently of matio. */
typedef struct mat_element {
    uint64_t payload; /* bytes of its matrix once inflated, tag included */
    int mclass;       /* MATLAB class (enum matio_classes); -1: the header is unreadable */
    bool complex;
    int rank;
    uint64_t nelem;   /* product of the dimensions */
    bool overflow;    /* that product does not fit in 64 bits */
    bool data_ok;     /* numeric classes: the real part holds nelem values inside the element */
    int storage;      /* the real part's storage type (matio's enum matio_types), 0 if unknown:
                         MATLAB stores integer-valued doubles in the smallest integer type */
} mat_element;

typedef struct mat_layout {
    int version;            /* 5 or 73 */
    uint64_t file_size;     /* bytes */
    size_t count;           /* v5: top-level elements */
    mat_element *elements;  /* v5: count entries, in file order */
} mat_layout;

/* Checks path's header and, for v5, that every top-level element lies inside the file and is a
 * matrix or a compressed matrix whose zlib stream inflates completely within the element, and
 * reads each matrix's header (class, dimensions, size of its data). Errors:
 * CN_EIO, CN_EFORMAT (not a MAT v5/v7.3 file, truncated, corrupt), CN_ENOMEM. On success free
 * with mat_layout_free; on error out is left empty. */
cn_status mat_check(const char *path, mat_layout *out);
void mat_layout_free(mat_layout *layout);

/* ---------------------------------------------------------------- open MAT files (mat_list.c) */

/* A MAT file checked (mat_check), opened with matio and its variables listed. */
typedef struct mat_file {
    mat_t *mat;         /* matio's handle */
    mat_layout layout;  /* what mat_check found */
    cn_mat_list list;   /* the variables, as the public API describes them */
    matvar_t **vars;    /* matio's description of each (list.count entries, owned) */
    bool locked;        /* holds the process-wide matio lock */
} mat_file;

/* Checks, opens and lists path; v5 variables whose header matio reads differently from
 * mat_check are refused as corrupt. matio's logging hook and Debian's serial HDF5 library are
 * process-wide and not thread-safe, so an open mat_file holds a process-wide lock until
 * mat_file_close: MAT files are read one at a time. Errors: as cn_mat_list_read. On error mf is
 * left empty (and unlocked). */
cn_status mat_file_open(const char *path, mat_file *mf);
void mat_file_close(mat_file *mf); /* idempotent */

/* "int16", "double", "logical", "struct", ... for matio's class. */
const char *mat_class_name(enum matio_classes c, bool logical);

/* "83 x 86 x 204" into buf (always terminated). */
void mat_dims_str(const cn_mat_variable *v, char *buf, size_t size);

/* ---------------------------------------------------------------- one import (matimport.c) */

/* A variable being converted. */
typedef struct import_job {
    const char *src;
    mat_file mf;
    size_t index;        /* of the variable in mf */
    matvar_t *var;       /* borrowed from mf */
    int64_t rows, cols, bands;
    GDALDataType type;   /* of the array's values in memory (matio converts to the class) */
    size_t esize;        /* bytes per value in memory */
    enum matio_classes out_class; /* what the GeoTIFF keeps: the class or its storage type */
    GDALDataType out_type;
    int64_t strip;       /* rows per strip */
} import_job;

/* Reads rows r0..r0+h of every column and band into buf, column-major (matio's hyperslab).
 * Errors: CN_EFORMAT (matio failed or complained). */
cn_status import_read_strip(import_job *job, int64_t r0, int64_t h, void *buf);
/* Reports the fraction done; CN_ECANCELLED when the callback says stop. */
cn_status import_progress(const cn_import_options *o, double fraction, const char *src);

/* Labels (mat_labels.c). A 2-D array is a label map when every value is an integer in
 * 0..65535 (and one is not 0): scan reads it strip by strip into buf, marks present[id] and fills
 * rep->max_id and rep->labelled (zero when it is not). */
cn_status import_scan_labels(import_job *job, void *buf, uint8_t *present, bool *labels,
                             cn_import_report *rep, const cn_import_options *o);
/* Writes the label map at dst through cn_labelmap: present ids named after rep->benchmark, else
 * "class N". buf holds the whole array when it fits one strip (as the scan left it). */
cn_status import_write_labels(import_job *job, const char *dst, const uint8_t *present,
                              void *buf, cn_import_report *rep, const cn_import_options *o);

/* matio reports through a global logging hook: mat_log_begin installs ours (once) and clears this
 * thread's record; mat_log_failed tells whether matio has complained since (warnings included:
 * matio reports a truncated compressed stream as one and carries on), with its first message. */
void mat_log_begin(void);
bool mat_log_failed(const char **message);

/* ---------------------------------------------------------------- GeoTIFF cubes (scene_tiff.c) */

typedef struct scene_tiff {
    cn_output out;   /* temporary and final path */
    GDALDatasetH ds; /* open at out.temp_path */
} scene_tiff;

/* Creates a pixel-interleaved, tiled 256 x 256, DEFLATE GeoTIFF (PREDICTOR=2 for integer types,
 * 3 for floating point; BIGTIFF=IF_SAFER; compression on all CPUs) at a temporary path beside
 * path. extra_options (NULL-terminated "NAME=VALUE", may be NULL) are added or replace those.
 * gt and wkt may be NULL (no georeference). Errors: CN_EINVAL, CN_EIO, CN_ENOMEM; on error t
 * is left empty. */
cn_status scene_tiff_create(const char *path, const char *const *inputs, int64_t width,
                            int64_t height, int64_t bands, GDALDataType type,
                            const char *const *extra_options, const double *gt, const char *wkt,
                            scene_tiff *t);
/* Closes the dataset (reporting write failures GDAL records at close) and renames into place.
 * Errors: CN_EIO (nothing is then left). */
cn_status scene_tiff_commit(scene_tiff *t);
/* Closes and removes the temporary file(s). Idempotent. */
void scene_tiff_abort(scene_tiff *t);

#endif
