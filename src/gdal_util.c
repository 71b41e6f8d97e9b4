/*
 * gdal_util.c — GDAL driver registration, quiet error handling and error messages for the core.
 */
#include "cn_gdal.h"

#include <cpl_error.h>
#include <pthread.h>

static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static _Thread_local int handler_installed;
static _Atomic int quiet; /* cn_gdal_set_quiet: off by default, so a host keeps GDAL's messages */

void cn_gdal_set_quiet(bool on) { quiet = on; }

static void register_drivers(void) { GDALAllRegister(); }

void cn_gdal_init(void)
{
    pthread_once(&register_once, register_drivers);
    if (quiet && !handler_installed) {
        /* CPLSetThreadLocalErrorHandler would also work; pushing keeps any handler a host
         * installed below ours, and is per thread. */
        CPLPushErrorHandler(CPLQuietErrorHandler);
        handler_installed = 1;
    }
}

cn_status cn_gdal_fail(cn_status status, const char *path, const char *what)
{
    const char *msg = CPLGetLastErrorMsg();
    if (msg && *msg)
        cn_set_error(status, "%s: %s: %s", path, what, msg);
    else
        cn_set_error(status, "%s: %s", path, what);
    CPLErrorReset();
    return status;
}

GDALDataType cn_gdal_label_type(int max_id) { return max_id <= 255 ? GDT_Byte : GDT_UInt16; }
