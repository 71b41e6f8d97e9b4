/*
 * lvrt.c — what `cropnet vrt` needs from C: a per-pixel model's raster metadata as read by the
 * core (so the VRT gets exactly the classes, colours and band count `cropnet classify` uses),
 * and absolute paths (a VRT is read from anywhere, so it names its files absolutely).
 *
 *   core.pixel_model_info(path) → {bands =, max_id =, classes = {{id =, name =, color =
 *       "#rrggbb"}, ...} (network output order), band_names = {...} or nil}, or nil and
 *       "path: reason" when the file cannot be loaded or is not a per-pixel raster model (a
 *       patch model, missing or inconsistent metadata)
 *   core.realpath(path) → the absolute path without symbolic links, or nil and "path: reason"
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "lcropnet.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The model and its predictor live in a userdata so that a memory error while the table is
 * built still frees them (its __gc). */
typedef struct pm_box {
    cn_model *model;
    cn_pixel_model *pm;
} pm_box;

static int pm_box_gc(lua_State *L)
{
    pm_box *b = lua_touserdata(L, 1);
    cn_pixel_model_close(b->pm);
    cn_model_free(b->model);
    b->pm = NULL;
    b->model = NULL;
    return 0;
}

static int l_pixel_model_info(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    pm_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->model = NULL;
    box->pm = NULL;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, pm_box_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    if (cn_model_load(path, &box->model)) {
        lua_pushnil(L);
        lua_pushstring(L, cn_last_error());
        return 2;
    }
    if (cn_pixel_model_open(box->model, &box->pm)) { /* the core calls the file "model" */
        const char *msg = cn_last_error();
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strncmp(msg, "model: ", 7) == 0 ? msg + 7 : msg);
        return 2;
    }
    const cn_pixel_model *pm = box->pm;
    size_t n;
    const cn_class_info *classes = cn_pixel_model_classes(pm, &n);
    int bands = cn_pixel_model_bands(pm);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, bands);
    lua_setfield(L, -2, "bands");
    lua_pushinteger(L, cn_pixel_model_max_id(pm));
    lua_setfield(L, -2, "max_id");
    lua_createtable(L, n > INT_MAX ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lcn_pushclass(L, classes[i].id, classes[i].name, classes[i].rgb);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "classes");
    if (cn_pixel_model_band_name(pm, 1)) {
        lua_createtable(L, bands, 0);
        for (int b = 1; b <= bands; b++) {
            lua_pushstring(L, cn_pixel_model_band_name(pm, b));
            lua_rawseti(L, -2, b);
        }
        lua_setfield(L, -2, "band_names");
    }
    return 1;
}

static int l_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char abs[PATH_MAX]; /* on the C stack: nothing to free if pushing it raises */
    if (!realpath(path, abs)) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, errno == ENOENT ? "no such file" : strerror(errno));
        return 2;
    }
    lua_pushstring(L, abs);
    return 1;
}

static const luaL_Reg vrt_functions[] = {
    {"pixel_model_info", l_pixel_model_info},
    {"realpath", l_realpath},
    {NULL, NULL},
};

void lcn_open_vrt(lua_State *L) { luaL_setfuncs(L, vrt_functions, 0); }
