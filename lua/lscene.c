/*
 * lscene.c — cn.scene: where scenes come from. MAT files of the hyperspectral benchmarks listed
 * and imported to GeoTIFF, the benchmarks' class tables, and the synthetic field scene.
 *
 *   cn.scene.mat_variables(path)        → { {name=, class=, dims={...}, complex=, importable=} }
 *   cn.scene.import(src, out [, {var=, progress=}])                         → true, info
 *   cn.scene.synth{output=, labels=, width=, height=, bands=, classes=, seed=, threads=,
 *                  progress=}                                              → true, info
 *   cn.scene.benchmark_classes(name)        → { {id=, name=, color="#rrggbb"}, ... }
 *   cn.scene.synth_classes(k)               → the same for the synthetic scene's k classes
 *   cn.scene.synth_defaults()           → {width=256, height=256, bands=32, classes=6, seed=1}
 *
 * Failures the caller could not have checked (a missing, truncated or foreign file, an unwritable
 * folder, an option out of range) return nil and "path: reason"; a wrong argument type raises.
 * A progress function runs under lua_pcall inside the C callback, so its error never unwinds
 * through C frames that own buffers and temporary files: the run is cancelled, cleans up, and the
 * error is raised again here. SIGINT and SIGTERM cancel the same way (third result "interrupted"),
 * so an interrupted run leaves no temporary file behind.
 */
#include "lcropnet.h"
#include "lopts.h"

#include <string.h>

/* mat_variables(path) → list of {name, class, dims, complex, importable} */
static int l_mat_variables(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    cn_mat_list list;
    cn_status st = cn_mat_list_read(path, &list);
    if (st)
        return lcn_failresult(L, st);
    lua_createtable(L, (int)list.count, 0);
    for (size_t i = 0; i < list.count; i++) {
        const cn_mat_variable *v = &list.vars[i];
        lua_createtable(L, 0, 5);
        lua_pushstring(L, v->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, v->mat_class);
        lua_setfield(L, -2, "class");
        lua_createtable(L, v->rank, 0);
        for (int d = 0; d < v->rank && d < CN_MAT_MAX_RANK; d++) {
            lua_pushinteger(L, (lua_Integer)v->dims[d]);
            lua_rawseti(L, -2, d + 1);
        }
        lua_setfield(L, -2, "dims");
        lua_pushboolean(L, v->complex);
        lua_setfield(L, -2, "complex");
        lua_pushboolean(L, cn_mat_variable_importable(v));
        lua_setfield(L, -2, "importable");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    cn_mat_list_free(&list);
    return 1;
}

static void push_report(lua_State *L, const cn_import_report *r)
{
    lua_createtable(L, 0, 14);
    lua_pushstring(L, r->variable);
    lua_setfield(L, -2, "variable");
    lua_pushboolean(L, r->picked);
    lua_setfield(L, -2, "picked");
    lua_pushinteger(L, (lua_Integer)r->importable);
    lua_setfield(L, -2, "importable");
    lua_pushinteger(L, r->version);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, r->kind == CN_SCENE_LABELS ? "labels" : "image");
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, r->mat_class);
    lua_setfield(L, -2, "class");
    if (r->stored_as) {
        lua_pushstring(L, r->stored_as);
        lua_setfield(L, -2, "stored_as");
    }
    lua_pushstring(L, r->gdal_type);
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, r->width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, r->height);
    lua_setfield(L, -2, "height");
    lua_pushinteger(L, r->bands);
    lua_setfield(L, -2, "bands");
    if (r->kind == CN_SCENE_LABELS) {
        lua_pushinteger(L, r->max_id);
        lua_setfield(L, -2, "max_id");
        lua_pushinteger(L, r->labelled);
        lua_setfield(L, -2, "labelled");
        if (r->benchmark) {
            lua_pushstring(L, r->benchmark->key);
            lua_setfield(L, -2, "benchmark");
        }
    }
}


/* import(src, out [, {var=, progress=}]) → true, info */
static int l_import(lua_State *L)
{
    const char *src = luaL_checkstring(L, 1), *out = luaL_checkstring(L, 2);
    cn_import_options o;
    memset(&o, 0, sizeof o);
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        int t = lua_getfield(L, 3, "var");
        if (t == LUA_TSTRING)
            o.variable = lua_tostring(L, -1); /* stays on the stack during the call */
        else if (t != LUA_TNIL)
            return luaL_error(L, "cn.scene.import: option 'var' must be a string (got %s)",
                              luaL_typename(L, -1));
    }
    lcn_run run;
    lcn_run_begin(L, &run, lua_istable(L, 3) ? lcn_progress_opt(L, 3, "cn.scene.import") : 0);
    o.progress = lcn_run_progress;
    o.progress_data = &run;
    cn_import_report rep;
    cn_status st = cn_mat_import(src, out, &o, &rep);
    int n = lcn_run_end(L, &run, st, out);
    if (n)
        return n;
    lua_pushboolean(L, 1);
    push_report(L, &rep);
    return 2;
}

/* An integer option of the table at 1 within [lo, hi] (default when absent). Out of range is
 * left to the C core's message; a non-integer raises. */
static lua_Integer int_opt(lua_State *L, const char *name, lua_Integer def)
{
    int t = lua_getfield(L, 1, name);
    lua_Integer v = def;
    if (t != LUA_TNIL) {
        int isnum;
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum)
            luaL_error(L, "cn.scene.synth: option '%s' must be an integer (got %s)", name,
                       t == LUA_TNUMBER ? "a fraction" : luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

static int clamp_int(lua_Integer v)
{
    return v < -1 ? -1 : v > 2000000000 ? 2000000000 : (int)v; /* the core refuses either end */
}

/* {width =, height =, bands =, classes =, seed =}: what synth made, or makes by default. */
static void push_synth_size(lua_State *L, const cn_synth_options *o)
{
    lua_createtable(L, 0, 6); /* room for the epsg synth adds */
    lua_pushinteger(L, o->width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, o->height);
    lua_setfield(L, -2, "height");
    lua_pushinteger(L, o->bands);
    lua_setfield(L, -2, "bands");
    lua_pushinteger(L, o->classes);
    lua_setfield(L, -2, "classes");
    lua_pushinteger(L, (lua_Integer)o->seed);
    lua_setfield(L, -2, "seed");
}

/* synth{output=, labels=, width=, height=, bands=, classes=, seed=, threads=, progress=} */
static int l_synth(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    static const char *const known[] = {"output", "labels", "width", "height", "bands", "classes",
                                        "seed", "threads", "progress", NULL};
    lcn_check_options(L, 1, known, "cn.scene.synth");
    const char *paths[2];
    static const char *const path_keys[] = {"output", "labels"};
    for (int i = 0; i < 2; i++) {
        if (lua_getfield(L, 1, path_keys[i]) != LUA_TSTRING)
            return luaL_error(L, "cn.scene.synth: option '%s' must be a path (got %s)",
                              path_keys[i], luaL_typename(L, -1));
        paths[i] = lua_tostring(L, -1); /* stays on the stack */
    }
    cn_synth_options o;
    cn_synth_defaults(&o);
    o.width = clamp_int(int_opt(L, "width", o.width));
    o.height = clamp_int(int_opt(L, "height", o.height));
    o.bands = clamp_int(int_opt(L, "bands", o.bands));
    o.classes = clamp_int(int_opt(L, "classes", o.classes));
    o.threads = clamp_int(int_opt(L, "threads", 0));
    o.seed = (uint64_t)int_opt(L, "seed", 1);
    lcn_run run;
    lcn_run_begin(L, &run, lcn_progress_opt(L, 1, "cn.scene.synth"));
    o.progress = lcn_run_progress;
    o.progress_data = &run;
    cn_status st = cn_synth_write(paths[0], paths[1], &o);
    int n = lcn_run_end(L, &run, st, paths[0]);
    if (n)
        return n;
    lua_pushboolean(L, 1);
    push_synth_size(L, &o);
    lua_pushinteger(L, CN_SYNTH_EPSG);
    lua_setfield(L, -2, "epsg");
    return 2;
}

/* benchmark_classes(name) → classes, key; nil and a message for an unknown name */
static int l_benchmark_classes(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const cn_benchmark *bm = cn_benchmark_find(name);
    if (!bm) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (size_t i = 0; cn_benchmark_at(i); i++) {
            luaL_addstring(&b, i ? ", " : "");
            luaL_addstring(&b, cn_benchmark_at(i)->key);
        }
        luaL_pushresult(&b);
        lua_pushnil(L);
        lua_pushfstring(L, "unknown benchmark '%s' (known: %s)", name, lua_tostring(L, -2));
        return 2;
    }
    lua_createtable(L, (int)bm->count, 0);
    for (size_t i = 0; i < bm->count; i++) {
        lcn_pushclass(L, bm->classes[i].id, bm->classes[i].name, bm->classes[i].rgb);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushstring(L, bm->key);
    return 2;
}

/* synth_classes(k) → the synthetic scene's first k classes */
static int l_synth_classes(lua_State *L)
{
    lua_Integer k = luaL_optinteger(L, 1, 6);
    luaL_argcheck(L, k >= 1 && k <= CN_SYNTH_MAX_CLASSES, 1, "class count out of range");
    lua_createtable(L, (int)k, 0);
    for (int id = 1; id <= (int)k; id++) {
        uint8_t rgb[3];
        cn_synth_class_rgb(id, rgb);
        lcn_pushclass(L, id, cn_synth_class_name(id), rgb);
        lua_rawseti(L, -2, id);
    }
    return 1;
}

static int l_synth_defaults(lua_State *L)
{
    cn_synth_options o;
    cn_synth_defaults(&o);
    push_synth_size(L, &o);
    return 1;
}

static const luaL_Reg scene_functions[] = {
    {"mat_variables", l_mat_variables},
    {"import", l_import},
    {"synth", l_synth},
    {"benchmark_classes", l_benchmark_classes},
    {"synth_classes", l_synth_classes},
    {"synth_defaults", l_synth_defaults},
    {NULL, NULL},
};

void lcn_open_scene(lua_State *L)
{
    luaL_newlib(L, scene_functions);
    lua_setfield(L, -2, "scene");
}
