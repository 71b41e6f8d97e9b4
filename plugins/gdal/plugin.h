/*
 * plugin.h — what the files of the GDAL plugin gdal_CROPNET.so share (internal).
 *
 * The plugin registers two VRT pixel functions (plugin.c): "cropnet" runs a per-pixel model file
 * over the band's sources (pixfn_model.c, with the model cache of model_cache.c) and
 * "cropnet_lua" runs a Lua function over them (pixfn_lua.c, with the per-thread Lua states of
 * lua_host.c). Both read their sources and write their results through the helpers of
 * sources.c, so nodata handling and type conversion are the same for both.
 *
 * Errors inside the plugin travel the core's way (cn_set_error / cn_last_error, thread-local);
 * only the pixel functions themselves turn them into one CPLError "cropnet: ..." or
 * "cropnet_lua: ..." and return CE_Failure. Nothing here prints, aborts or lets a Lua error
 * unwind through GDAL's frames.
 */
#ifndef CROPNET_PLUGIN_H
#define CROPNET_PLUGIN_H

#include "cropnet.h"

#include <gdal.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- sources (sources.c) */

/* The sources of one pixel-function call: GDAL hands one packed buffer (width × height values
 * of type) per source. */
typedef struct cnp_sources {
    void **buf;          /* nsources buffers, borrowed from GDAL */
    int nsources;
    GDALDataType type;   /* the transfer type (SourceTransferType, or GDAL's choice) */
    int width, height;   /* the buffer size in pixels */
    bool has_nodata;     /* a nodata= argument was given */
    double *nodata;      /* nsources values (owned); NaN where that source has none */
} cnp_sources;

/* Fills s from GDAL's arguments and the optional nodata= argument: one value for every source
 * ("255") or one per source ("255,255,0"; an empty entry means none for that source). Refuses
 * complex transfer types and malformed lists. The message starts with what is wrong (the
 * caller prefixes the function's name). Errors: CN_EINVAL, CN_ENOMEM. */
cn_status cnp_sources_init(cnp_sources *s, void **buf, int nsources, GDALDataType type,
                           int width, int height, const char *nodata_arg);
void cnp_sources_free(cnp_sources *s);

/* Reads values first..first+count-1 (row-major pixel index) of source src as float32 into
 * out[i·stride] and clears valid[i] where the value is NaN, infinite or equal to that source's
 * nodata value (compared in the transfer type's precision). valid may be NULL. */
void cnp_sources_read(const cnp_sources *s, int src, int64_t first, int64_t count, float *out,
                      int64_t stride, uint8_t *valid);

/* The same as doubles (exact for every non-complex GDAL type up to 32 bits and Float64). */
void cnp_sources_read_double(const cnp_sources *s, int src, int64_t first, int64_t count,
                             double *out, int64_t stride, uint8_t *valid);

/* The output buffer of a pixel-function call. */
typedef struct cnp_output {
    void *data;          /* GDAL's pData */
    GDALDataType type;   /* eBufType */
    int pixel_space, line_space;
    int width;           /* pixels per line */
} cnp_output;

/* Writes values[0..count-1] to pixels first..first+count-1 (row-major), converted by GDAL
 * (rounded and clamped to the buffer type). */
void cnp_output_write(const cnp_output *o, int64_t first, int64_t count, const double *values);

/* Parses a number argument ("0", "-1", "nan"); false when text is not a whole number. */
bool cnp_parse_double(const char *text, double *value);

/* Reports the current cn error as a GDAL error "who: message" and returns CE_Failure. */
CPLErr cnp_fail(const char *who);

/* ---------------------------------------------------------------- models (model_cache.c) */

typedef struct cnp_model cnp_model;

/* The cached model at path (loaded once per file version: path, inode, size and modification
 * time), refused when it is not a per-pixel model. The entry lives until the process ends;
 * borrowed. Errors: those of cn_model_load and cn_pixel_model_open, messages naming path. */
cn_status cnp_model_get(const char *path, cnp_model **out);

/* The model's metadata predictor: classes, bands, max id. Never used to predict; borrowed. */
const cn_pixel_model *cnp_model_info(const cnp_model *m);

/* A predictor for the calling thread's exclusive use until cnp_model_release: over a private
 * copy of the network, so threads never share a layer's forward buffers. Errors: CN_ENOMEM. */
cn_status cnp_model_acquire(cnp_model *m, cn_pixel_model **out);
void cnp_model_release(cnp_model *m, cn_pixel_model *pm);

/* A copy of net with its own parameters and buffers (new reference). Errors: CN_EINVAL for a
 * layer kind it cannot copy, CN_ENOMEM. */
cn_status cnp_net_clone(cn_layer *net, cn_layer **out);

/* ---------------------------------------------------------------- Lua (lua_host.c) */

typedef struct lua_State lua_State;

/* The calling thread's Lua state (created on first use, closed when the thread ends), with the
 * standard libraries, `require "cropnet"` working from the linked binding, and the plugin's
 * registry tables. Errors: CN_ENOMEM. */
cn_status cnp_lua_state(lua_State **out);

/* Runs fn(L) under lua_pcall with ud as its one light-userdata argument, with GDAL's errors of
 * this thread kept quiet meanwhile (the core's GDAL calls from a script must not replace the
 * host's error handler). On a Lua error sets the cn error to its message and returns CN_EINVAL.
 * The stack is left as it was. */
cn_status cnp_lua_protect(lua_State *L, int (*fn)(lua_State *L), void *ud);

/* ---------------------------------------------------------------- the pixel functions */

CPLErr cnp_pixfn_model(void **sources, int nsources, void *data, int width, int height,
                       GDALDataType src_type, GDALDataType buf_type, int pixel_space,
                       int line_space, CSLConstList args);
CPLErr cnp_pixfn_lua(void **sources, int nsources, void *data, int width, int height,
                     GDALDataType src_type, GDALDataType buf_type, int pixel_space,
                     int line_space, CSLConstList args);

#endif
