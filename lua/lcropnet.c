/*
 * lcropnet.c — the entry point of the Lua module cropnet.core and what the binding files share:
 * the per-state random generator, error reporting, the traceback message handler; also threads,
 * the version and the BLAS in use.
 *
 * The generator lives in a userdata in the registry rather than in a C static, so two Lua states
 * in one process (the command and a plugin, say) never disturb each other's seeded sequences.
 */
#include "lcropnet.h"

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#define LCN_RNG_KEY "cropnet.rng"
#define LCN_DEFAULT_SEED 1 /* fixed, so a script without manual_seed is reproducible too */

int lcn_fail(lua_State *L)
{
    return luaL_error(L, "%s", cn_last_error());
}

int lcn_failresult(lua_State *L, cn_status st)
{
    if (st == CN_ENOMEM)
        return lcn_fail(L);
    lua_pushnil(L);
    lua_pushstring(L, cn_last_error());
    return 2;
}

cn_rng *lcn_rng(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LCN_RNG_KEY);
    cn_rng *rng = lua_touserdata(L, -1); /* kept alive by the registry */
    lua_pop(L, 1);
    return rng;
}

int lcn_traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) /* a table or other object: hand it on untouched */
        return 1;
    luaL_traceback(L, L, msg, 1);
    return 1;
}

void lcn_pushclass(lua_State *L, int id, const char *name, const uint8_t rgb[3])
{
    char hex[8];
    snprintf(hex, sizeof hex, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, hex);
    lua_setfield(L, -2, "color");
}

void lcn_createmeta(lua_State *L, const char *tname, const luaL_Reg *methods,
                    const luaL_Reg *metamethods, lua_CFunction index)
{
    luaL_newmetatable(L, tname);
    luaL_setfuncs(L, metamethods, 0);
    lua_newtable(L); /* luaL_newlib needs an array, not a pointer */
    luaL_setfuncs(L, methods, 0);
    if (index) {
        lua_pushcclosure(L, index, 1); /* the methods table is its upvalue */
    }
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

static int l_manual_seed(lua_State *L)
{
    lua_Integer seed = luaL_checkinteger(L, 1);
    cn_rng_seed(lcn_rng(L), (uint64_t)seed);
    return 0;
}

static int l_set_threads(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 4096, 1, "thread count must be in 1..4096");
    cn_set_threads((int)n);
    return 0;
}

static int l_get_threads(lua_State *L)
{
    lua_pushinteger(L, cn_get_threads());
    return 1;
}

lua_Integer lcn_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (lua_Integer)n;
}

/* cpus() → the online cores (1..64): what commands use when no thread count is given */
static int l_cpus(lua_State *L)
{
    lua_pushinteger(L, lcn_default_threads());
    return 1;
}

static int l_blas(lua_State *L)
{
    lua_pushstring(L, cn_blas_info());
    return 1;
}

static const luaL_Reg core_functions[] = {
    {"blas", l_blas},
    {"cpus", l_cpus},
    {"manual_seed", l_manual_seed},
    {"set_threads", l_set_threads},
    {"get_threads", l_get_threads},
    {NULL, NULL},
};

int luaopen_cropnet_core(lua_State *L);

int luaopen_cropnet_core(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, LCN_RNG_KEY) != LUA_TUSERDATA) {
        cn_rng *rng = lua_newuserdatauv(L, sizeof *rng, 0);
        cn_rng_seed(rng, LCN_DEFAULT_SEED);
        lua_setfield(L, LUA_REGISTRYINDEX, LCN_RNG_KEY);
    }
    lua_pop(L, 1);
    /* failures come back as nil, "path: reason"; GDAL printing them too would be noise (the GDAL
     * plugin restores its host's handlers around the scripts it runs) */
    cn_gdal_set_quiet(true);
    luaL_newlib(L, core_functions);
    lua_pushliteral(L, CN_VERSION_STRING);
    lua_setfield(L, -2, "version");
    lcn_open_tensor(L);
    lcn_open_nn(L);
    lcn_open_layers(L);
    lcn_open_criterion(L);
    lcn_open_optim(L);
    lcn_open_train(L);
    lcn_open_model(L);
    lcn_open_data(L);
    lcn_open_raster(L);
    lcn_open_classify(L);
    lcn_open_scene(L);
    lcn_open_vrt(L);
    lcn_open_cluster(L);
    lcn_open_patches(L);
    return 1;
}
