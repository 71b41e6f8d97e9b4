/*
 * lraster.c — rasters in Lua: cn.raster.open(path) and the raster methods (size, geotransform,
 * wkt, nodata, band type and description, read, read_labels, close), cn.raster.same_grid and
 * cn.raster.cache_max (GDAL's block cache).
 *
 * Pixel offsets are GDAL's: x, y count from 0 at the top-left corner, so numbers pass to and from
 * gdal_translate -srcwin unchanged. A window outside the raster is misuse and raises; a file that
 * cannot be opened or read returns nil, "path: reason". A handle in use by cn.classify cannot be
 * closed until it returns.
 */
#include "lcropnet.h"

#include <gdal.h>
#include <string.h>

static lcn_raster *checkud(lua_State *L, int idx)
{
    lcn_raster *u = luaL_checkudata(L, idx, LCN_RASTER);
    if (u->r == NULL)
        luaL_error(L, "attempt to use a closed raster");
    return u;
}

cn_raster *lcn_checkraster(lua_State *L, int idx) { return checkud(L, idx)->r; }

/* nil, "path: reason" (the message names the path already). */
static int file_fail(lua_State *L)
{
    lua_pushnil(L);
    lua_pushstring(L, cn_last_error());
    return 2;
}

static int l_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lcn_raster *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->r = NULL; /* closed until the raster is open */
    u->busy = 0;
    luaL_setmetatable(L, LCN_RASTER);
    cn_status st = cn_raster_open(path, &u->r);
    if (st == CN_ENOMEM || st == CN_EINVAL)
        return lcn_fail(L);
    if (st)
        return file_fail(L);
    return 1;
}

static int r_size(lua_State *L)
{
    cn_raster *r = lcn_checkraster(L, 1);
    lua_pushinteger(L, cn_raster_width(r));
    lua_pushinteger(L, cn_raster_height(r));
    lua_pushinteger(L, cn_raster_bands(r));
    return 3;
}

static int r_path(lua_State *L)
{
    lua_pushstring(L, cn_raster_path(lcn_checkraster(L, 1)));
    return 1;
}

/* geotransform() → {x0, dx, rx, y0, ry, dy}, and whether the raster has one */
static int r_geotransform(lua_State *L)
{
    double gt[6];
    bool has = cn_raster_geotransform(lcn_checkraster(L, 1), gt);
    lua_createtable(L, 6, 0);
    for (int i = 0; i < 6; i++) {
        lua_pushnumber(L, gt[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushboolean(L, has);
    return 2;
}

static int r_wkt(lua_State *L)
{
    lua_pushstring(L, cn_raster_wkt(lcn_checkraster(L, 1)));
    return 1;
}

static int checkband(lua_State *L, cn_raster *r, int idx)
{
    lua_Integer b = luaL_checkinteger(L, idx);
    luaL_argcheck(L, b >= 1 && b <= cn_raster_bands(r), idx, "band out of range");
    return (int)b;
}

static int r_nodata(lua_State *L)
{
    cn_raster *r = lcn_checkraster(L, 1);
    double v;
    if (cn_raster_nodata(r, checkband(L, r, 2), &v))
        lua_pushnumber(L, v);
    else
        lua_pushnil(L);
    return 1;
}

static int r_band_type(lua_State *L)
{
    cn_raster *r = lcn_checkraster(L, 1);
    lua_pushstring(L, cn_raster_band_type(r, checkband(L, r, 2)));
    return 1;
}

static int r_description(lua_State *L)
{
    cn_raster *r = lcn_checkraster(L, 1);
    lua_pushstring(L, cn_raster_band_description(r, checkband(L, r, 2)));
    return 1;
}

/* The window of arguments 2..5 (default: the whole raster); raises when it is outside. */
static void checkwindow(lua_State *L, cn_raster *r, int *x, int *y, int *w, int *h)
{
    int W = cn_raster_width(r), H = cn_raster_height(r);
    lua_Integer v[4] = {0, 0, W, H};
    for (int i = 0; i < 4; i++)
        if (!lua_isnoneornil(L, 2 + i))
            v[i] = luaL_checkinteger(L, 2 + i);
    luaL_argcheck(L, v[0] >= 0 && v[0] < W, 2, "x outside the raster");
    luaL_argcheck(L, v[1] >= 0 && v[1] < H, 3, "y outside the raster");
    luaL_argcheck(L, v[2] >= 1 && v[2] <= W - v[0], 4, "width outside the raster");
    luaL_argcheck(L, v[3] >= 1 && v[3] <= H - v[1], 5, "height outside the raster");
    *x = (int)v[0];
    *y = (int)v[1];
    *w = (int)v[2];
    *h = (int)v[3];
}

/* read([x, y, w, h]) → pixels (h·w × bands tensor, rows in reading order), valid (h·w tensor of
 * 1 and 0); nil, msg when the file cannot be read. */
static int r_read(lua_State *L)
{
    cn_raster *r = lcn_checkraster(L, 1);
    int x, y, w, h;
    checkwindow(L, r, &x, &y, &w, &h);
    int64_t n = (int64_t)w * h, nb = cn_raster_bands(r);
    if (n > INT64_MAX / nb)
        return luaL_error(L, "window too large");
    int64_t dims[2] = {n, nb};
    cn_tensor *px = lcn_pushnewtensor(L, 2, dims);
    cn_tensor *mask = lcn_pushnewtensor(L, 1, &n);
    uint8_t *valid = lua_newuserdatauv(L, (size_t)n, 0); /* collected with the stack */
    if (cn_raster_read(r, x, y, w, h, cn_tensor_data(px), valid))
        return file_fail(L);
    float *m = cn_tensor_data(mask);
    for (int64_t i = 0; i < n; i++)
        m[i] = valid[i];
    lua_pop(L, 1);
    return 2;
}

/* read_labels([x, y, w, h]) → h·w tensor of class ids (0 unlabelled); nil, msg on failure. */
static int r_read_labels(lua_State *L)
{
    cn_raster *r = lcn_checkraster(L, 1);
    int x, y, w, h;
    checkwindow(L, r, &x, &y, &w, &h);
    int64_t n = (int64_t)w * h;
    cn_tensor *t = lcn_pushnewtensor(L, 1, &n);
    int32_t *ids = lua_newuserdatauv(L, (size_t)n * sizeof *ids, 0);
    if (cn_raster_read_labels(r, x, y, w, h, ids))
        return file_fail(L);
    float *p = cn_tensor_data(t);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)ids[i];
    lua_pop(L, 1);
    return 1;
}

static int r_close(lua_State *L)
{
    lcn_raster *u = luaL_checkudata(L, 1, LCN_RASTER);
    if (u->busy)
        return luaL_error(L, "cannot close a raster in use by cn.classify");
    cn_raster *r = u->r;
    u->r = NULL;
    cn_raster_close(r);
    return 0;
}

static int r_gc(lua_State *L)
{
    lcn_raster *u = luaL_checkudata(L, 1, LCN_RASTER);
    cn_raster *r = u->r; /* never busy here: cn.classify keeps the handle on its stack */
    u->r = NULL;
    cn_raster_close(r);
    return 0;
}

static int r_tostring(lua_State *L)
{
    lcn_raster *u = luaL_checkudata(L, 1, LCN_RASTER);
    if (!u->r)
        lua_pushliteral(L, "raster (closed)");
    else
        lua_pushfstring(L, "raster %s (%d x %d, %d bands)", cn_raster_path(u->r),
                        cn_raster_width(u->r), cn_raster_height(u->r), cn_raster_bands(u->r));
    return 1;
}

/* __index: width, height, bands, then the methods. */
static int r_index(lua_State *L)
{
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    if (k) {
        int which = strcmp(k, "width") == 0 ? 1 : strcmp(k, "height") == 0 ? 2
                  : strcmp(k, "bands") == 0 ? 3 : 0;
        if (which) {
            cn_raster *r = lcn_checkraster(L, 1);
            lua_pushinteger(L, which == 1 ? cn_raster_width(r)
                                          : which == 2 ? cn_raster_height(r) : cn_raster_bands(r));
            return 1;
        }
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* same_grid(a, b) → true, or false and the difference */
static int l_same_grid(lua_State *L)
{
    cn_raster *a = lcn_checkraster(L, 1), *b = lcn_checkraster(L, 2);
    if (cn_raster_same_grid(a, b)) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, cn_last_error());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* cache_max([mb]) → GDAL's block cache size in MiB (before the change, when one is given) */
static int l_cache_max(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)(GDALGetCacheMax64() >> 20));
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer mb = luaL_checkinteger(L, 1);
        luaL_argcheck(L, mb >= 1 && mb <= (1 << 24), 1, "cache size must be in 1..16777216 MiB");
        GDALSetCacheMax64((GIntBig)mb << 20);
    }
    return 1;
}

static const luaL_Reg raster_methods[] = {
    {"size", r_size},           {"path", r_path},
    {"geotransform", r_geotransform}, {"wkt", r_wkt},
    {"nodata", r_nodata},       {"band_type", r_band_type},
    {"description", r_description},   {"read", r_read},
    {"read_labels", r_read_labels},   {"close", r_close},
    {NULL, NULL},
};

static const luaL_Reg raster_meta[] = {
    {"__gc", r_gc}, {"__close", r_close}, {"__tostring", r_tostring}, {NULL, NULL},
};

static const luaL_Reg raster_functions[] = {
    {"open", l_open},
    {"same_grid", l_same_grid},
    {"cache_max", l_cache_max},
    {NULL, NULL},
};

void lcn_open_raster(lua_State *L)
{
    lcn_createmeta(L, LCN_RASTER, raster_methods, raster_meta, r_index);
    luaL_newlib(L, raster_functions);
    lua_setfield(L, -2, "raster");
}
