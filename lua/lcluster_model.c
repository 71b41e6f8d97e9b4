/*
 * lcluster_model.c — the k-means model in Lua: predict (1-based ids, 0 for rows with NaN),
 * predict_raster (a segment map tile by tile), partial_fit, centroids, inertia, iterations, k,
 * bands, pixels, save, close.
 *
 * predict_raster reports progress and stops on Ctrl-C through lrun.c; while it runs the model and
 * a raster handle given as image are marked busy, so a callback cannot close them.
 */
#include "lcluster.h"
#include "lopts.h"

#include <math.h>
#include <string.h>

/* m:predict(x) → ids (tensor of n 1-based ids, 0 for rows with NaN), inertia */
static int m_predict(lua_State *L)
{
    lcn_kmeans *u = lcl_checkmodel(L, 1);
    int64_t n;
    int d;
    const float *x = lcl_checkrows(L, 2, &n, &d);
    if (!cn_kmeans_centroids(u->km))
        return luaL_error(L, "predict: the model has no centroids yet");
    if (d != cn_kmeans_dims(u->km))
        return luaL_error(L, "predict: the pixels have %d band%s, the model has %d", d,
                          d == 1 ? "" : "s", cn_kmeans_dims(u->km));
    int threads = (int)luaL_optinteger(L, 3, lcn_default_threads());
    luaL_argcheck(L, threads >= 1 && threads <= 4096, 3, "threads must be in 1..4096");
    cn_tensor *ids = lcn_pushnewtensor(L, 1, &n);
    int32_t *lab = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *lab, 0);
    double inertia;
    if (cn_kmeans_predict(u->km, x, n, d, threads, lab, NULL, &inertia))
        return lcn_fail(L);
    float *p = cn_tensor_data(ids);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(lab[i] + 1);
    lua_pop(L, 1);
    lua_pushnumber(L, inertia);
    return 2;
}

/* m:predict_raster(image, output, {tile =, ram =, threads =, creation_options =, progress =,
 * inputs =}) → true, inertia, or nil and a message */
static int m_predict_raster(lua_State *L)
{
    const char *fname = "predict_raster";
    lcn_kmeans *u = lcl_checkmodel(L, 1);
    const char *output = luaL_checkstring(L, 3);
    lua_settop(L, 4);
    if (lua_isnil(L, 4)) {
        lua_newtable(L);
        lua_replace(L, 4);
    }
    luaL_checktype(L, 4, LUA_TTABLE);
    static const char *const known[] = {"tile", "ram", "threads", "creation_options",
                                        "progress", "inputs", NULL};
    lcn_check_options(L, 4, known, fname);
    cn_cluster_options co;
    memset(&co, 0, sizeof co);
    cn_kmeans_defaults(&co.kmeans);
    co.tile = (int)lcn_int_opt(L, 4, "tile", 0, 1, 1 << 20, fname);
    co.ram_mb = (int)lcn_int_opt(L, 4, "ram", 0, 1, 1 << 30, fname);
    co.kmeans.threads = (int)lcn_int_opt(L, 4, "threads", lcn_default_threads(), 1, 4096, fname);
    co.creation_options = lcn_strings_opt(L, 4, "creation_options", fname);
    co.inputs = lcn_strings_opt(L, 4, "inputs", fname);
    lcn_raster *ru = luaL_testudata(L, 2, LCN_RASTER);
    if (ru && !ru->r)
        return luaL_error(L, "%s: the image is a closed raster", fname);
    if (!ru) {
        cn_status st = lcl_open_raster(L, luaL_checkstring(L, 2), &ru);
        if (st)
            return lcn_failresult(L, st);
    }
    lcn_run run;
    lcn_run_begin(L, &run, lcn_progress_opt(L, 4, fname));
    co.kmeans.progress = lcn_run_progress;
    co.kmeans.progress_data = &run;
    double inertia = 0;
    u->busy++;
    ru->busy++;
    cn_status st = cn_cluster_label(u->km, ru->r, output, &co, &inertia);
    ru->busy--;
    u->busy--;
    int n = lcn_run_end(L, &run, st, output);
    if (n)
        return n;
    lua_pushboolean(L, 1);
    lua_pushnumber(L, inertia);
    return 2;
}

/* m:partial_fit(x, {seed =, init =}) → m (one mini-batch step; the first initialises) */
static int m_partial_fit(lua_State *L)
{
    lcn_kmeans *u = lcl_checkmodel(L, 1);
    int64_t n;
    int d;
    const float *x = lcl_checkrows(L, 2, &n, &d);
    cn_kmeans_options o;
    cn_kmeans_defaults(&o);
    o.threads = (int)lcn_default_threads();
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        static const char *const known[] = {"seed", "init", "threads", NULL};
        lcn_check_options(L, 3, known, "partial_fit");
        o.seed = (uint64_t)lcn_int_opt(L, 3, "seed", 0, LUA_MININTEGER, LUA_MAXINTEGER, "partial_fit");
        o.threads = (int)lcn_int_opt(L, 3, "threads", lcn_default_threads(), 1, 4096, "partial_fit");
        lua_getfield(L, 3, "init");
        if (!lua_isnil(L, -1)) {
            const char *s = luaL_checkstring(L, -1);
            if (!strcmp(s, "random"))
                o.init = CN_KMEANS_INIT_RANDOM;
            else if (strcmp(s, "kmeans++") && strcmp(s, "k-means++"))
                return luaL_error(L, "partial_fit: option 'init' must be \"kmeans++\" or "
                                  "\"random\"");
        }
        lua_pop(L, 1);
    }
    o.k = cn_kmeans_k(u->km);
    if (d != cn_kmeans_dims(u->km))
        return luaL_error(L, "partial_fit: the pixels have %d band%s, the model has %d", d,
                          d == 1 ? "" : "s", cn_kmeans_dims(u->km));
    cn_status st = cn_kmeans_partial_fit(u->km, x, n, d, &o);
    if (st)
        return lcn_failresult(L, st);
    lua_settop(L, 1);
    return 1;
}

static int m_centroids(lua_State *L)
{
    lcn_kmeans *u = lcl_checkmodel(L, 1);
    const float *c = cn_kmeans_centroids(u->km);
    if (!c) {
        lua_pushnil(L);
        return 1;
    }
    int64_t dims[2] = {cn_kmeans_k(u->km), cn_kmeans_dims(u->km)};
    memcpy(cn_tensor_data(lcn_pushnewtensor(L, 2, dims)), c,
           (size_t)(dims[0] * dims[1]) * sizeof *c);
    return 1;
}

static int m_inertia(lua_State *L)
{
    double v = cn_kmeans_inertia(lcl_checkmodel(L, 1)->km);
    if (isnan(v))
        lua_pushnil(L);
    else
        lua_pushnumber(L, v);
    return 1;
}

static int m_iterations(lua_State *L)
{
    lua_pushinteger(L, cn_kmeans_iterations(lcl_checkmodel(L, 1)->km));
    return 1;
}

static int m_k(lua_State *L)
{
    lua_pushinteger(L, cn_kmeans_k(lcl_checkmodel(L, 1)->km));
    return 1;
}

static int m_bands(lua_State *L)
{
    lua_pushinteger(L, cn_kmeans_dims(lcl_checkmodel(L, 1)->km));
    return 1;
}

static int m_pixels(lua_State *L)
{
    lua_pushinteger(L, cn_kmeans_pixels(lcl_checkmodel(L, 1)->km));
    return 1;
}

/* m:save(path [, input...]) → true, or nil and "path: reason"; path may not be one of the
 * inputs (files the caller reads, never to be overwritten) */
static int m_save(lua_State *L)
{
    lcn_kmeans *u = lcl_checkmodel(L, 1);
    const char *path = luaL_checkstring(L, 2);
    int extra = lua_gettop(L) - 2;
    luaL_argcheck(L, extra <= 16, 19, "at most 16 inputs");
    const char *inputs[17];
    for (int i = 0; i < extra; i++)
        inputs[i] = luaL_checkstring(L, 3 + i);
    inputs[extra] = NULL;
    if (!cn_kmeans_centroids(u->km))
        return luaL_error(L, "save: the model has no centroids yet");
    cn_status st = cn_kmeans_save(u->km, path, inputs);
    if (st)
        return lcn_failresult(L, st);
    lua_pushboolean(L, 1);
    return 1;
}

static int m_close(lua_State *L)
{
    lcn_kmeans *u = luaL_checkudata(L, 1, LCN_KMEANS);
    if (u->busy)
        return luaL_error(L, "cannot close a k-means model in use");
    cn_kmeans *km = u->km;
    u->km = NULL;
    cn_kmeans_free(km);
    return 0;
}

static int m_gc(lua_State *L)
{
    lcn_kmeans *u = luaL_checkudata(L, 1, LCN_KMEANS);
    cn_kmeans *km = u->km; /* never busy here: the running call keeps the handle on its stack */
    u->km = NULL;
    cn_kmeans_free(km);
    return 0;
}

static int m_tostring(lua_State *L)
{
    lcn_kmeans *u = luaL_checkudata(L, 1, LCN_KMEANS);
    if (!u->km)
        lua_pushliteral(L, "k-means model (closed)");
    else
        lua_pushfstring(L, "k-means model (k = %d, %d band%s%s)", cn_kmeans_k(u->km),
                        cn_kmeans_dims(u->km), cn_kmeans_dims(u->km) == 1 ? "" : "s",
                        cn_kmeans_centroids(u->km) ? "" : ", empty");
    return 1;
}

static const luaL_Reg model_methods[] = {
    {"predict", m_predict},       {"predict_raster", m_predict_raster},
    {"partial_fit", m_partial_fit}, {"centroids", m_centroids},
    {"inertia", m_inertia},       {"iterations", m_iterations},
    {"k", m_k},                   {"bands", m_bands},
    {"pixels", m_pixels},         {"save", m_save},
    {"close", m_close},           {NULL, NULL},
};

static const luaL_Reg model_meta[] = {
    {"__gc", m_gc}, {"__close", m_gc}, {"__tostring", m_tostring}, {NULL, NULL},
};

void lcl_open_model(lua_State *L)
{
    lcn_createmeta(L, LCN_KMEANS, model_methods, model_meta, NULL);
}
