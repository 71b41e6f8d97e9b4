/*
 * lcluster.c — k-means in Lua: cn.cluster.kmeans{...} fits on a tensor or a raster and returns a
 * model (its methods are in lcluster_model.c); cn.cluster.load reads a centroids file and
 * cn.cluster.model wraps given centroids or makes an empty model for partial_fit.
 *
 * Segment ids are 1-based in Lua (0 for a pixel that cannot be assigned), as class ids are
 * everywhere else in the Lua API. Fits take a progress function and stop on Ctrl-C through
 * lrun.c; a raster in use is marked busy so a callback cannot close it. Misuse raises; a file,
 * scene or data set that cannot be clustered (missing, all nodata, fewer valid pixels than k)
 * returns nil, "what: reason".
 */
#include "lcluster.h"
#include "lopts.h"

#include <string.h>

lcn_kmeans *lcl_pushmodel(lua_State *L)
{
    lcn_kmeans *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->km = NULL; /* closed until it holds a model */
    u->busy = 0;
    luaL_setmetatable(L, LCN_KMEANS);
    return u;
}

lcn_kmeans *lcl_checkmodel(lua_State *L, int idx)
{
    lcn_kmeans *u = luaL_checkudata(L, idx, LCN_KMEANS);
    if (!u->km)
        luaL_error(L, "attempt to use a closed k-means model");
    return u;
}

/* A 2-D tensor argument as rows × bands. */
const float *lcl_checkrows(lua_State *L, int idx, int64_t *n, int *d)
{
    cn_tensor *t = lcn_checktensor(L, idx);
    if (cn_tensor_ndim(t) != 2 || cn_tensor_dim(t, 1) < 1 || cn_tensor_dim(t, 1) > INT32_MAX) {
        char shape[64];
        luaL_error(L, "expected a pixels × bands tensor, got %s",
                   cn_tensor_shape_str(t, shape, sizeof shape));
    }
    *n = cn_tensor_dim(t, 0);
    *d = (int)cn_tensor_dim(t, 1);
    return cn_tensor_cdata(t);
}

/* Opens path as a raster handle pushed on the stack (closed by the collector whatever happens). */
cn_status lcl_open_raster(lua_State *L, const char *path, lcn_raster **out)
{
    lcn_raster *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->r = NULL;
    u->busy = 0;
    luaL_setmetatable(L, LCN_RASTER);
    *out = u;
    return cn_raster_open(path, &u->r);
}

/* ---------------------------------------------------------------- options */

static const char *const known_options[] = {
    "data", "k", "seed", "init", "n_init", "max_iter", "tol", "sample", "minibatch", "threads",
    "threading", "tile", "ram", "progress", NULL};

/* The k-means options of the table at idx; init centroids (a tensor) stay on the stack. */
static void kmeans_opts(lua_State *L, int idx, cn_kmeans_options *o, const char *fname)
{
    cn_kmeans_defaults(o);
    o->k = (int)lcn_int_opt(L, idx, "k", 0, 1, CN_CLASS_ID_MAX, fname);
    if (o->k == 0)
        luaL_error(L, "%s: option 'k' (the number of clusters, >= 1) is required", fname);
    o->seed = (uint64_t)lcn_int_opt(L, idx, "seed", 0, LUA_MININTEGER, LUA_MAXINTEGER, fname);
    o->n_init = (int)lcn_int_opt(L, idx, "n_init", 1, 1, 10000, fname);
    o->max_iter = (int)lcn_int_opt(L, idx, "max_iter", 300, 1, 1 << 30, fname);
    o->threads = (int)lcn_int_opt(L, idx, "threads", lcn_default_threads(), 1, 4096, fname);
    lua_getfield(L, idx, "tol");
    if (!lua_isnil(L, -1)) {
        int isnum;
        o->tol = lua_tonumberx(L, -1, &isnum);
        if (!isnum || !(o->tol >= 0))
            luaL_error(L, "%s: option 'tol' must be a number >= 0", fname);
    }
    lua_pop(L, 1);
    static const char *const hows[] = {"pixels", "blas", NULL};
    lua_getfield(L, idx, "threading");
    if (!lua_isnil(L, -1))
        o->threading = (cn_kmeans_threading)luaL_checkoption(L, -1, NULL, hows);
    lua_pop(L, 1);
    int t = lua_getfield(L, idx, "init");
    if (t == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        if (!strcmp(s, "kmeans++") || !strcmp(s, "k-means++"))
            o->init = CN_KMEANS_INIT_PLUSPLUS;
        else if (!strcmp(s, "random"))
            o->init = CN_KMEANS_INIT_RANDOM;
        else
            luaL_error(L, "%s: option 'init' must be \"kmeans++\", \"random\" or a k × bands "
                       "tensor (got \"%s\")", fname, s);
        lua_pop(L, 1);
    } else if (t != LUA_TNIL) {
        int64_t n;
        int d;
        const float *c = lcl_checkrows(L, lua_gettop(L), &n, &d);
        if (n != o->k)
            luaL_error(L, "%s: option 'init' has %I rows, k is %d", fname, (lua_Integer)n, o->k);
        o->init = CN_KMEANS_INIT_GIVEN;
        o->init_centroids = c; /* the tensor stays on the stack */
    } else {
        lua_pop(L, 1);
    }
}

/* Band count of given init centroids, checked against the data's. */
static void check_init_bands(lua_State *L, const cn_kmeans_options *o, int d, const char *fname)
{
    if (o->init != CN_KMEANS_INIT_GIVEN)
        return;
    lua_getfield(L, 1, "init");
    int cols = (int)cn_tensor_dim(lcn_checktensor(L, -1), 1);
    lua_pop(L, 1);
    if (cols != d)
        luaL_error(L, "%s: option 'init' has %d bands, the data %d", fname, cols, d);
}

/* ---------------------------------------------------------------- progress by stages */

/* Fitting a raster reports a sampling pass then k-means: one fraction over both. */
typedef struct staged {
    lcn_run run;
    double sample_share; /* the part of the bar the sampling pass takes */
} staged;

static int staged_progress(double f, const char *stage, void *data)
{
    staged *s = data;
    double g = stage && !strcmp(stage, "sampling") ? f * s->sample_share
                                                   : s->sample_share + f * (1 - s->sample_share);
    return lcn_run_progress(g, stage, &s->run);
}

/* ---------------------------------------------------------------- fitting */

/* Rows of the tensor sampled without replacement (partial Fisher–Yates), in their order. */
static const float *sample_rows(lua_State *L, const float *x, int64_t n, int d, int64_t m,
                                uint64_t seed)
{
    int64_t dims[2] = {m, d};
    cn_tensor *t = lcn_pushnewtensor(L, 2, dims);
    int64_t *idx = lua_newuserdatauv(L, (size_t)n * sizeof *idx, 0);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    for (int64_t i = 0; i < m; i++) {
        int64_t j = i + (int64_t)cn_rng_below(&rng, (uint64_t)(n - i)), s = idx[i];
        idx[i] = idx[j];
        idx[j] = s;
    }
    /* keep the data's order: mark the chosen rows, then walk them */
    uint8_t *chosen = lua_newuserdatauv(L, (size_t)n, 0);
    memset(chosen, 0, (size_t)n);
    for (int64_t i = 0; i < m; i++)
        chosen[idx[i]] = 1;
    float *out = cn_tensor_data(t);
    for (int64_t i = 0, r = 0; i < n; i++)
        if (chosen[i])
            memcpy(out + (size_t)r++ * (size_t)d, x + (size_t)i * (size_t)d, (size_t)d * sizeof *out);
    lua_pop(L, 2);
    return out; /* the tensor stays on the stack */
}

/* The minibatch = {batch =, steps =} option: batch 0 when absent. */
static void minibatch_opt(lua_State *L, int64_t *batch, int64_t *steps, const char *fname)
{
    *batch = *steps = 0;
    int t = lua_getfield(L, 1, "minibatch");
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (t == LUA_TBOOLEAN && lua_toboolean(L, -1)) {
        *batch = 1024;
    } else if (t == LUA_TTABLE) {
        int idx = lua_gettop(L);
        static const char *const known[] = {"batch", "steps", NULL};
        lcn_check_options(L, idx, known, fname);
        *batch = lcn_int_opt(L, idx, "batch", 1024, 1, (lua_Integer)1 << 40, fname);
        *steps = lcn_int_opt(L, idx, "steps", 0, 0, (lua_Integer)1 << 50, fname);
    } else if (t != LUA_TBOOLEAN) {
        luaL_error(L, "%s: option 'minibatch' must be true or {batch =, steps =}", fname);
    }
    lua_pop(L, 1);
}

static cn_status fit_tensor(lua_State *L, const cn_kmeans_options *o, int64_t sample,
                            int64_t batch, int64_t steps, cn_kmeans **out)
{
    const char *fname = "cn.cluster.kmeans";
    lua_getfield(L, 1, "data");
    int64_t n;
    int d;
    const float *x = lcl_checkrows(L, lua_gettop(L), &n, &d);
    check_init_bands(L, o, d, fname);
    if (sample > 0 && sample < n) {
        x = sample_rows(L, x, n, d, sample, o->seed);
        n = sample;
    }
    return batch > 0 ? cn_kmeans_fit_minibatch(x, n, d, o, batch, steps, NULL, out)
                     : cn_kmeans_fit(x, n, d, o, NULL, out);
}

/* cn.cluster.kmeans{data =, k =, seed =, init =, n_init =, max_iter =, tol =, sample =,
 * minibatch = {batch =, steps =}, threads =, threading =, tile =, ram =, progress =}
 * → model, or nil and a message */
static int l_kmeans(lua_State *L)
{
    const char *fname = "cn.cluster.kmeans";
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lcn_check_options(L, 1, known_options, fname);
    cn_cluster_options co;
    memset(&co, 0, sizeof co);
    kmeans_opts(L, 1, &co.kmeans, fname);
    co.sample = lcn_int_opt(L, 1, "sample", 0, 1, (lua_Integer)1 << 50, fname);
    co.tile = (int)lcn_int_opt(L, 1, "tile", 0, 1, 1 << 20, fname);
    co.ram_mb = (int)lcn_int_opt(L, 1, "ram", 0, 1, 1 << 30, fname);
    minibatch_opt(L, &co.batch, &co.steps, fname);
    staged st_run;
    lcn_kmeans *u = lcl_pushmodel(L);
    int ut = lua_gettop(L);
    lua_getfield(L, 1, "data");
    lcn_raster *ru = luaL_testudata(L, -1, LCN_RASTER);
    bool is_path = lua_type(L, -1) == LUA_TSTRING;
    if (!ru && !is_path && !lcn_totensorud(L, -1))
        return luaL_error(L, "%s: option 'data' must be a tensor, a raster or a raster path "
                          "(got %s)", fname, luaL_typename(L, -1));
    if (ru && !ru->r)
        return luaL_error(L, "%s: option 'data' is a closed raster", fname);
    if (is_path) {
        cn_status st = lcl_open_raster(L, lua_tostring(L, -1), &ru);
        if (st)
            return lcn_failresult(L, st);
    }
    cn_raster *img = ru ? ru->r : NULL;
    if (img)
        check_init_bands(L, &co.kmeans, cn_raster_bands(img), fname);
    st_run.sample_share = img ? 0.3 : 0;
    lcn_run_begin(L, &st_run.run, lcn_progress_opt(L, 1, fname));
    co.kmeans.progress = staged_progress;
    co.kmeans.progress_data = &st_run;
    if (ru)
        ru->busy++;
    cn_status st = img ? cn_cluster_fit(img, &co, &u->km)
                       : fit_tensor(L, &co.kmeans, co.sample, co.batch, co.steps, &u->km);
    if (ru)
        ru->busy--;
    int n = lcn_run_end(L, &st_run.run, st, "k-means");
    if (n)
        return n;
    lua_pushvalue(L, ut);
    return 1;
}

/* cn.cluster.load(path) → model, or nil and "path: reason" */
static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lcn_kmeans *u = lcl_pushmodel(L);
    cn_status st = cn_kmeans_load(path, &u->km);
    return st ? lcn_failresult(L, st) : 1;
}

/* cn.cluster.model(centroids) → a model from a k × bands tensor;
 * cn.cluster.model{k =, bands =} → an empty model for partial_fit */
static int l_model(lua_State *L)
{
    cn_status st;
    if (lua_istable(L, 1)) {
        static const char *const known[] = {"k", "bands", NULL};
        lcn_check_options(L, 1, known, "cn.cluster.model");
        int k = (int)lcn_int_opt(L, 1, "k", 0, 1, CN_CLASS_ID_MAX, "cn.cluster.model");
        int d = (int)lcn_int_opt(L, 1, "bands", 0, 1, 1 << 20, "cn.cluster.model");
        if (!k || !d)
            return luaL_error(L, "cn.cluster.model: options 'k' and 'bands' are required");
        lcn_kmeans *u = lcl_pushmodel(L);
        st = cn_kmeans_new(k, d, NULL, &u->km);
    } else {
        int64_t n;
        int d;
        const float *c = lcl_checkrows(L, 1, &n, &d);
        luaL_argcheck(L, n >= 1 && n <= CN_CLASS_ID_MAX, 1, "expected 1..65535 centroids");
        lcn_kmeans *u = lcl_pushmodel(L);
        st = cn_kmeans_new((int)n, d, c, &u->km);
    }
    if (st)
        return lcn_fail(L); /* a centroid that is not finite: misuse */
    return 1;
}

static const luaL_Reg cluster_functions[] = {
    {"kmeans", l_kmeans}, {"load", l_load}, {"model", l_model}, {NULL, NULL},
};

void lcn_open_cluster(lua_State *L)
{
    lcl_open_model(L);
    luaL_newlib(L, cluster_functions);
    lua_setfield(L, -2, "cluster");
}
