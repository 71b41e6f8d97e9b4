/*
 * cn_output.h — writing an output file atomically (internal, not part of the public API).
 *
 * Every file the core writes goes first to a temporary name in the target folder and is renamed
 * into place only when complete, so a failure or an interrupt never leaves a partial file at the
 * output path nor destroys an existing one. GDAL's GTiff driver writes category names and RATs to
 * a sidecar PATH.aux.xml; commit renames the sidecar first and the main file last, so a reader
 * never sees the new map with the old names, and abort removes both temporaries.
 */
#ifndef CROPNET_OUTPUT_H
#define CROPNET_OUTPUT_H

#include "cropnet.h"

typedef struct cn_output {
    char *path;      /* the final path (owned copy) */
    char *temp_path; /* where to write: same folder, same extension, unique (owned) */
} cn_output;

/* Checks that path is usable (not empty, not a folder, not equal to any of the NULL-terminated
 * inputs, its folder exists and is writable) and picks the temporary name. Errors: CN_EINVAL
 * (output equals an input), CN_EIO (folder missing or not writable), CN_ENOMEM. On error out is
 * left empty (cn_output_abort on it is harmless). */
cn_status cn_output_begin(const char *path, const char *const *inputs, cn_output *out);

/* Renames the temporary file (and its .aux.xml sidecar, if any) into place; a stale sidecar of
 * an earlier file at path is removed when the new file has none. Frees out. Errors: CN_EIO (the
 * temporaries are then removed). */
cn_status cn_output_commit(cn_output *out);

/* Removes the temporaries (and sidecar) if they exist and frees out. Idempotent. */
void cn_output_abort(cn_output *out);

/* True when a and b name the same existing file (same device and inode), or the same string. */
bool cn_same_file(const char *a, const char *b);

#endif
