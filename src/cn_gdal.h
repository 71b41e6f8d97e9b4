/*
 * cn_gdal.h — how the core talks to GDAL (internal, not part of the public API).
 *
 * GDAL reports errors through CPLError, which by default prints to stderr. The core never
 * prints: cn_gdal_init registers the drivers once and installs a quiet error handler for the
 * calling thread's GDAL calls, and cn_gdal_fail turns GDAL's last message into the core's
 * thread-local "path: reason" message.
 */
#ifndef CROPNET_GDAL_H
#define CROPNET_GDAL_H

#include "cropnet.h"

#include <gdal.h>

/* Registers every GDAL driver (once per process) and silences GDAL's printing on this thread
 * (messages stay available through CPLGetLastErrorMsg). Safe to call from any thread, often. */
void cn_gdal_init(void);

/* Sets the core's error to "path: what: <GDAL's last message>" (or "path: what" when GDAL said
 * nothing) and returns status. */
cn_status cn_gdal_fail(cn_status status, const char *path, const char *what);

/* GDAL's data type for a label map of the given largest class id: Byte up to 255, else UInt16. */
GDALDataType cn_gdal_label_type(int max_id);

#endif
