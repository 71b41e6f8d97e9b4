/*
 * ldata.c — the binding of training data and measuring: cn.data.samples, cn.data.band_stats,
 * cn.data.split, cn.data.labels_from_vector and cn.evaluate (core.data.*).
 *
 * These functions read files: a file that is missing, unreadable, on another grid or without
 * labels is the caller's environment, so it returns nil, "path: reason"; wrong argument types
 * and unknown option names raise. Label rasters rasterised from a vector without an output path
 * go to a temporary folder owned by a userdata kept in the registry, so the folder is removed
 * when the Lua state closes (or the garbage collector runs after it is forgotten).
 */
#include "lcropnet.h"
#include "lopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LCN_TEMP_LABELS "cropnet.temp_labels"     /* metatable of a temporary label raster */
#define LCN_TEMP_LIVE "cropnet.temp_labels.live" /* registry set keeping them alive */

/* {id =, name =, color = "#rrggbb", rgb = {r, g, b}} */
static void push_class(lua_State *L, const cn_class_info *c)
{
    lcn_pushclass(L, c->id, c->name, c->rgb);
    lua_createtable(L, 3, 0);
    for (int i = 0; i < 3; i++) {
        lua_pushinteger(L, c->rgb[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "rgb");
}

static void push_classes(lua_State *L, const cn_class_info *c, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_class(L, &c[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* ---------------------------------------------------------------- samples, statistics */

/* cn.data.samples(image, labels) -> X (N x bands), y (N, 1-based class indices), classes,
 * info {skipped =, positions = N x 2 tensor of 0-based (row, col)} */
static int l_samples(lua_State *L)
{
    const char *image = luaL_checkstring(L, 1), *labels = luaL_checkstring(L, 2);
    cn_samples s;
    cn_status st = cn_samples_from_rasters(image, labels, &s);
    if (st)
        return lcn_failresult(L, st);
    lcn_pushtensor(L, s.x, 0);
    float *y = cn_tensor_data(s.y);
    for (int64_t i = 0; i < s.count; i++)
        y[i] += 1; /* Lua's class indices start at 1 */
    lcn_pushtensor(L, s.y, 0);
    push_classes(L, s.classes, s.nclasses);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, s.skipped);
    lua_setfield(L, -2, "skipped");
    int64_t dims[2] = {s.count, 2};
    cn_tensor *pos = NULL;
    if (cn_tensor_new(2, dims, &pos) == CN_OK) {
        float *p = cn_tensor_data(pos);
        for (int64_t i = 0; i < s.count; i++) {
            p[2 * i] = (float)s.rows[i];
            p[2 * i + 1] = (float)s.cols[i];
        }
    }
    cn_samples_free(&s);
    if (!pos)
        return lcn_fail(L);
    lcn_pushtensor(L, pos, 0);
    cn_tensor_release(pos);
    lua_setfield(L, -2, "positions");
    return 4;
}

/* cn.data.band_stats(X) -> mean, std */
static int l_band_stats(lua_State *L)
{
    cn_tensor *x = lcn_checktensor(L, 1);
    luaL_argcheck(L, cn_tensor_ndim(x) == 2 && cn_tensor_dim(x, 0) >= 1, 1,
                  "expected an N x bands tensor with N >= 1");
    int64_t c = cn_tensor_dim(x, 1);
    cn_tensor *mean = lcn_pushnewtensor(L, 1, &c), *std = lcn_pushnewtensor(L, 1, &c);
    if (cn_band_stats(x, mean, std))
        return lcn_fail(L);
    return 2;
}

/* ---------------------------------------------------------------- split */

static const char *const split_keys[] = {"train_fraction", "per_class", "seed", "block", "buffer",
                                         "train", "test", NULL};

static void check_keys(lua_State *L, int t, const char *fn, const char *const *keys)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        bool known = false;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (size_t i = 0; keys[i] && !known; i++)
                known = strcmp(lua_tostring(L, -1), keys[i]) == 0;
        if (!known)
            luaL_error(L, "%s: unknown option '%s'", fn, luaL_tolstring(L, -1, NULL));
    }
}

/* Pushes opts[key] when a string, else "<labels without extension>_<key>.tif" beside them. */
static const char *output_path(lua_State *L, int t, const char *key, const char *labels)
{
    int type = lua_getfield(L, t, key);
    if (type == LUA_TSTRING)
        return lua_tostring(L, -1);
    if (type != LUA_TNIL)
        luaL_error(L, "cn.data.split: option '%s' must be a path", key);
    lua_pop(L, 1);
    const char *slash = strrchr(labels, '/'), *dot = strrchr(labels, '.');
    int stem = (int)(dot && (!slash || dot > slash + 1) ? (size_t)(dot - labels) : strlen(labels));
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%.*s_%s.tif", stem, labels, key) >= (int)sizeof buf)
        luaL_error(L, "cn.data.split: labels path too long");
    return lua_pushstring(L, buf);
}

static void push_split_result(lua_State *L, const cn_split_result *r)
{
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, r->train);
    lua_setfield(L, -2, "train");
    lua_pushinteger(L, r->test);
    lua_setfield(L, -2, "test");
    lua_pushinteger(L, r->dropped);
    lua_setfield(L, -2, "dropped");
    lua_createtable(L, (int)r->nclasses, 0);
    for (size_t i = 0; i < r->nclasses; i++) {
        const cn_split_class *c = &r->classes[i];
        lua_createtable(L, 0, 5);
        lua_pushinteger(L, c->id);
        lua_setfield(L, -2, "id");
        lua_pushinteger(L, c->labelled);
        lua_setfield(L, -2, "labelled");
        lua_pushinteger(L, c->train);
        lua_setfield(L, -2, "train");
        lua_pushinteger(L, c->test);
        lua_setfield(L, -2, "test");
        lua_pushinteger(L, c->dropped);
        lua_setfield(L, -2, "dropped");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "classes");
}

/* cn.data.split(labels [, opts]) -> train_path, test_path, counts */
static int l_split(lua_State *L)
{
    const char *labels = luaL_checkstring(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    check_keys(L, 2, "cn.data.split", split_keys);
    cn_split_options o = {0};
    if (lua_getfield(L, 2, "train_fraction") != LUA_TNIL) {
        int ok;
        o.train_fraction = lua_tonumberx(L, -1, &ok);
        if (!ok || !(o.train_fraction > 0 && o.train_fraction < 1))
            luaL_error(L, "cn.data.split: option 'train_fraction' must be a number in (0, 1)");
    }
    lua_pop(L, 1);
    o.per_class = lcn_int_opt(L, 2, "per_class", 0, 1, INT64_MAX, "cn.data.split");
    if (o.per_class && o.train_fraction > 0)
        luaL_error(L, "cn.data.split: give train_fraction or per_class, not both");
    o.seed = (uint64_t)lcn_int_opt(L, 2, "seed", 1, INT64_MIN, INT64_MAX, "cn.data.split");
    o.block = (int)lcn_int_opt(L, 2, "block", 0, 0, INT32_MAX, "cn.data.split");
    o.buffer = (int)lcn_int_opt(L, 2, "buffer", 0, 0, INT32_MAX, "cn.data.split");
    const char *train = output_path(L, 2, "train", labels); /* slot 3 */
    const char *test = output_path(L, 2, "test", labels);   /* slot 4 */
    cn_split_result r;
    cn_status st = cn_split_labels(labels, train, test, &o, &r);
    if (st)
        return lcn_failresult(L, st);
    push_split_result(L, &r);
    cn_split_result_free(&r);
    return 3;
}

/* ---------------------------------------------------------------- vector labels */

static int temp_gc(lua_State *L)
{
    cn_label_source *s = luaL_checkudata(L, 1, LCN_TEMP_LABELS);
    cn_label_source_free(s);
    return 0;
}

/* cn.data.labels_from_vector(vector, field, image [, out]) -> label raster path, classes.
 * Without out, the raster is a temporary removed when the Lua state closes. */
static int l_labels_from_vector(lua_State *L)
{
    const char *vector = luaL_checkstring(L, 1), *field = luaL_checkstring(L, 2);
    const char *image = luaL_checkstring(L, 3), *out = luaL_optstring(L, 4, NULL);
    lua_settop(L, 4);
    if (out) {
        cn_class_info *classes = NULL;
        size_t n = 0;
        cn_status st = cn_labels_from_vector(vector, field, image, out, &classes, &n);
        if (st)
            return lcn_failresult(L, st);
        lua_pushvalue(L, 4);
        push_classes(L, classes, n);
        free(classes);
        return 2;
    }
    cn_label_source *s = lua_newuserdatauv(L, sizeof *s, 0); /* slot 5 */
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, LCN_TEMP_LABELS);
    cn_status st = cn_labels_resolve(vector, field, image, s);
    if (st)
        return lcn_failresult(L, st);
    if (!s->temp_dir) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: is a raster, not a vector file", vector);
        return 2;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, LCN_TEMP_LIVE);
    lua_pushvalue(L, 5);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    lua_pushstring(L, s->path);
    push_classes(L, s->classes, s->nclasses);
    return 2;
}

/* ---------------------------------------------------------------- evaluate */

static void set_number(lua_State *L, const char *key, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
}

/* cn.evaluate(map, reference) -> {oa, aa, kappa, total, classes = {{id, name, color, precision,
 * recall, f1, support}}, confusion = {{...}} (rows reference, columns predicted_ids),
 * predicted_ids = {...}} */
static int l_evaluate(lua_State *L)
{
    const char *map = luaL_checkstring(L, 1), *ref = luaL_checkstring(L, 2);
    cn_confusion c;
    cn_metrics m;
    cn_status st = cn_confusion_from_rasters(map, ref, &c);
    if (st)
        return lcn_failresult(L, st);
    if ((st = cn_metrics_compute(&c, &m))) {
        cn_confusion_free(&c);
        return lcn_failresult(L, st);
    }
    lua_createtable(L, 0, 7);
    set_number(L, "oa", m.oa);
    set_number(L, "aa", m.aa);
    set_number(L, "kappa", m.kappa);
    lua_pushinteger(L, m.total);
    lua_setfield(L, -2, "total");
    lua_createtable(L, (int)c.nclasses, 0);
    for (size_t i = 0; i < c.nclasses; i++) {
        push_class(L, &c.classes[i]);
        set_number(L, "precision", m.classes[i].precision);
        set_number(L, "recall", m.classes[i].recall);
        set_number(L, "f1", m.classes[i].f1);
        lua_pushinteger(L, m.classes[i].support);
        lua_setfield(L, -2, "support");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "classes");
    lua_createtable(L, (int)c.nclasses, 0);
    for (size_t i = 0; i < c.nclasses; i++) {
        lua_createtable(L, (int)c.ncols, 0);
        for (size_t j = 0; j < c.ncols; j++) {
            lua_pushinteger(L, c.counts[i * c.ncols + j]);
            lua_rawseti(L, -2, (lua_Integer)j + 1);
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "confusion");
    lua_createtable(L, (int)c.ncols, 0);
    for (size_t j = 0; j < c.ncols; j++) {
        lua_pushinteger(L, c.predicted_ids[j]);
        lua_rawseti(L, -2, (lua_Integer)j + 1);
    }
    lua_setfield(L, -2, "predicted_ids");
    cn_metrics_free(&m);
    cn_confusion_free(&c);
    return 1;
}

static const luaL_Reg data_functions[] = {
    {"samples", l_samples},
    {"band_stats", l_band_stats},
    {"split", l_split},
    {"labels_from_vector", l_labels_from_vector},
    {"evaluate", l_evaluate},
    {NULL, NULL},
};

void lcn_open_data(lua_State *L)
{
    if (luaL_newmetatable(L, LCN_TEMP_LABELS)) {
        lua_pushcfunction(L, temp_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    /* the registry's set of live temporaries: closing the state collects and removes them */
    if (lua_getfield(L, LUA_REGISTRYINDEX, LCN_TEMP_LIVE) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_setfield(L, LUA_REGISTRYINDEX, LCN_TEMP_LIVE);
    } else {
        lua_pop(L, 1);
    }
    luaL_newlib(L, data_functions);
    lua_setfield(L, -2, "data");
}
