/*
 * lcropnet.h — what the files of the Lua binding share: the userdata types, their metatable
 * names, the argument checkers and the pushers.
 *
 * Every handle is a small userdata holding one pointer to a libcropnet object; NULL means closed.
 * A handle is pushed closed first and only then given its object, so a memory error while pushing
 * leaks nothing (the liolib.c pattern). Scratch tensors made while converting arguments are Lua
 * userdata too: the garbage collector frees them even when an error unwinds the C function.
 */
#ifndef LCROPNET_H
#define LCROPNET_H

#include <lauxlib.h>
#include <lua.h>

#include <float.h>
#include <signal.h>
#include <math.h>

#include "cropnet.h"

#define LCN_TENSOR "cropnet.tensor"
#define LCN_LAYER "cropnet.layer"
#define LCN_CRITERION "cropnet.criterion"
#define LCN_OPTIM "cropnet.optim"
#define LCN_MODEL "cropnet.model"
#define LCN_RASTER "cropnet.raster"

/* A tensor owned by a layer or criterion (its parameters, gradients or output buffers): its shape
 * is fixed from Lua, and it is copied before being passed back into a layer, whose forward may
 * resize the very buffer it reads. */
#define LCN_LAYER_OWNED 1

typedef struct lcn_tensor {
    cn_tensor *t; /* one reference, NULL when closed */
    int flags;    /* LCN_LAYER_OWNED or 0 */
} lcn_tensor;

typedef struct lcn_layer {
    cn_layer *l; /* one reference, NULL when closed */
} lcn_layer;

/* Raises the message of the last libcropnet failure as a Lua error. */
int lcn_fail(lua_State *L);

/* For a failure of the caller's environment (a file, a scene, a data set): pushes nil and the
 * message of the last libcropnet failure ("path: reason") and returns 2. Raises instead when st is
 * CN_ENOMEM: running out of memory is no answer about the file. */
int lcn_failresult(lua_State *L, cn_status st);

/* The per-state generator behind cn.manual_seed, layer construction and cn.randn. */
cn_rng *lcn_rng(lua_State *L);

/* Message handler for lua_pcall: appends a traceback to string error objects. */
int lcn_traceback(lua_State *L);

/* Threads when none are asked for: every online core, at most 64 (k-means and classify give the
 * same results whatever the count; only the time changes). */
lua_Integer lcn_default_threads(void);

/* Pushes {id =, name =, color = "#rrggbb"}: a class as every class list of the API shows it. */
void lcn_pushclass(lua_State *L, int id, const char *name, const uint8_t rgb[3]);

/* Doubles outside float range become ±inf explicitly (the C conversion would be undefined). */
static inline float lcn_tofloat(lua_Number v)
{
    return v > FLT_MAX ? INFINITY : v < -FLT_MAX ? -INFINITY : (float)v;
}

/* tensors (ltensor.c) */
lcn_tensor *lcn_totensorud(lua_State *L, int idx);          /* NULL when not a tensor */
lcn_tensor *lcn_checktensorud(lua_State *L, int idx);       /* raises if closed / not one */
cn_tensor *lcn_checktensor(lua_State *L, int idx);          /* raises if closed / not one */
cn_tensor *lcn_pushtensor(lua_State *L, cn_tensor *t, int flags); /* takes a new reference */
cn_tensor *lcn_pushnewtensor(lua_State *L, int ndim, const int64_t *dims);

/* conversions (lconvert.c) */
cn_tensor *lcn_pushfromtable(lua_State *L, int idx); /* a new tensor from a nested table */
/* A tensor argument fit to feed a layer: a tensor (copied when layer-owned) or a nested table of
 * numbers (converted). Any copy is pushed on the stack above everything else. */
cn_tensor *lcn_checkinput(lua_State *L, int idx);
/* Class ids given 1-based (tensor or flat table) as a pushed 0-based float tensor; every id must
 * be an integer in 1..classes (no upper bound when classes <= 0). */
cn_tensor *lcn_checkclasses(lua_State *L, int idx, int64_t classes);

/* layers (lnn.c) */
cn_layer *lcn_checklayer(lua_State *L, int idx);
void lcn_pushlayer(lua_State *L, cn_layer *l); /* takes a new reference */

/* other handles */
cn_loss_kind lcn_checkcriterionkind(lua_State *L, int idx); /* criterion object or loss name */
typedef struct lcn_optim lcn_optim;
lcn_optim *lcn_checkoptimud(lua_State *L, int idx);
cn_optim *lcn_optim_begin(lua_State *L, lcn_optim *o);      /* marks it busy (cn.train) */
void lcn_optim_end(lcn_optim *o);
cn_optim *lcn_pushdefaultoptim(lua_State *L); /* a new adam with Torch's defaults */
cn_model **lcn_newmodel(lua_State *L); /* pushes a closed model handle; fill *result */

/* rasters (lraster.c): busy while cn.classify reads it, so close refuses */
typedef struct lcn_raster {
    cn_raster *r; /* NULL when closed */
    int busy;
} lcn_raster;
cn_raster *lcn_checkraster(lua_State *L, int idx);

/* Registration of each file's functions into the module table at the stack top. */
void lcn_open_tensor(lua_State *L);
void lcn_open_nn(lua_State *L);
void lcn_open_layers(lua_State *L);
void lcn_open_criterion(lua_State *L);
void lcn_open_optim(lua_State *L);
void lcn_open_train(lua_State *L);
void lcn_open_model(lua_State *L);
void lcn_open_data(lua_State *L);
void lcn_open_raster(lua_State *L);
void lcn_open_classify(lua_State *L);
void lcn_open_scene(lua_State *L);
void lcn_open_vrt(lua_State *L); /* pixel_model_info, realpath (lvrt.c) */
void lcn_open_cluster(lua_State *L); /* cn.cluster: k-means (lcluster.c) */
void lcn_open_patches(lua_State *L); /* patches, receptive_field, json_decode (lpatches.c) */

/* Creates metatable tname with methods (reached through __index unless index is given) and
 * metamethods; leaves the stack as it found it. */
void lcn_createmeta(lua_State *L, const char *tname, const luaL_Reg *methods,
                    const luaL_Reg *metamethods, lua_CFunction index);

/* ---------------------------------------------------------------- long C calls (lrun.c) */

/* A C call that reports progress to a Lua function and stops on SIGINT / SIGTERM. */
typedef struct lcn_run {
    lua_State *L;
    int fn;                           /* stack index of the progress function, 0 if none */
    double fraction;                  /* the fraction being reported */
    int stop;                         /* the function returned false */
    int failed;                       /* it raised; its error object is at the stack top */
    struct sigaction old_int, old_term; /* the handlers to restore */
} lcn_run;

/* Calls f(ud, the value at fn) under lua_pcall, with lcn_traceback as message handler: how a C
 * callback runs Lua code (progress, on_epoch) without an error unwinding the C frames above it.
 * Returns LUA_OK, the stack as it was; otherwise the status, with the error object alone on top of
 * the stack for the caller to raise once the C call has cleaned up. Needs 4 free stack slots,
 * reserved before the C call: nothing here may raise. */
int lcn_protected_call(lua_State *L, lua_CFunction f, void *ud, int fn);
/* The "progress" option of the table at idx: its stack index (left on the stack), or 0.
 * Raises unless a function; fname names the caller in the message. */
int lcn_progress_opt(lua_State *L, int idx, const char *fname);
/* Starts a run: fn is a progress function's stack index (or 0); installs the signal handlers. */
void lcn_run_begin(lua_State *L, lcn_run *r, int fn);
/* The cn_progress_fn to pass to the C call, with r as its user data. */
int lcn_run_progress(double fraction, const char *message, void *data);
/* Ends a run with the C call's status: raises the callback's error; for a failure pushes nil,
 * message [, "interrupted" after a signal — the message then says "WHAT: interrupted by SIGINT"]
 * and returns the count; returns 0 on success (nothing pushed). */
int lcn_run_end(lua_State *L, lcn_run *r, cn_status st, const char *what);

#endif
