/*
 * cn_gdal.h — how the core talks to GDAL (internal, not part of the public API).
 *
 * GDAL reports errors through CPLError, which by default prints to stderr. cn_gdal_fail turns
 * GDAL's last message into the core's thread-local "path: reason" message. Whether GDAL's own
 * printing is silenced is the host's choice (cn_gdal_set_quiet): the cropnet command and the Lua
 * module silence it, since they report every failure themselves; a program that links the core
 * or loads the GDAL plugin keeps its own error handling.
 */
#ifndef CROPNET_GDAL_H
#define CROPNET_GDAL_H

#include "cropnet.h"

#include <gdal.h>

/* Registers every GDAL driver (once per process) and, when cn_gdal_set_quiet(true) was called,
 * silences GDAL's printing on this thread (messages stay available through CPLGetLastErrorMsg).
 * Safe to call from any thread, often. */
void cn_gdal_init(void);

/* Sets the core's error to "path: what: <GDAL's last message>" (or "path: what" when GDAL said
 * nothing) and returns status. */
cn_status cn_gdal_fail(cn_status status, const char *path, const char *what);

/* GDAL's data type for a label map of the given largest class id: Byte up to 255, else UInt16. */
GDALDataType cn_gdal_label_type(int max_id);

#endif
