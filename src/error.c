/*
 * error.c — status names and the thread-local error message.
 *
 * Every fallible function of the core returns a cn_status and leaves a one-line message here, so
 * front-ends (Lua, the command, the GDAL plugin) can report "path: reason" without the core ever
 * printing or exiting.
 */
#include "cropnet.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

const char *cn_last_error(void) { return last_error; }

cn_status cn_set_error(cn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

const char *cn_status_name(cn_status status)
{
    switch (status) {
    case CN_OK: return "CN_OK";
    case CN_EINVAL: return "CN_EINVAL";
    case CN_ENOMEM: return "CN_ENOMEM";
    case CN_EOVERFLOW: return "CN_EOVERFLOW";
    case CN_ESHAPE: return "CN_ESHAPE";
    case CN_EIO: return "CN_EIO";
    case CN_EFORMAT: return "CN_EFORMAT";
    case CN_EVERSION: return "CN_EVERSION";
    case CN_ECANCELLED: return "CN_ECANCELLED";
    }
    return "CN_UNKNOWN";
}
