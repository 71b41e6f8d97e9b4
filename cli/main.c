/*
 * main.c — the cropnet command: a Lua 5.4 host for the cropnet.cli module.
 *
 * Every subcommand is written in Lua (lua/cropnet/cli.lua) so that a workflow serves the command
 * and Lua users alike; this host only creates the state, makes cropnet.core available without a
 * shared-library search (it is linked in), points package.path at the Lua sources, and turns an
 * escaped error into the one-line "cropnet: ..." message and a non-zero exit.
 *
 * The Lua sources are looked for in $CROPNET_LUA_DIR, then in the source tree the binary was
 * built from, then in the install tree.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "cropnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int luaopen_cropnet_core(lua_State *L);

/* Prepends dir/?.lua and dir/?/init.lua to package.path. */
static void add_lua_dir(lua_State *L, const char *dir)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

static const char *lua_dir(void)
{
    const char *env = getenv("CROPNET_LUA_DIR");
    if (env && *env)
        return env;
    if (access(CROPNET_LUA_BUILD_DIR "/cropnet/cli.lua", R_OK) == 0)
        return CROPNET_LUA_BUILD_DIR;
    return CROPNET_LUA_INSTALL_DIR;
}

/* Runs in protected mode: require "cropnet.cli" and call its main(arg...). */
static int run(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_cropnet_core);
    lua_setfield(L, -2, "cropnet.core");
    lua_pop(L, 1);
    add_lua_dir(L, lua_dir());
    lua_createtable(L, argc, 1); /* the global arg, as lua.c builds it */
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cropnet.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    luaL_checkstack(L, argc, "too many arguments");
    for (int i = 1; i < argc; i++)
        lua_pushstring(L, argv[i]);
    lua_call(L, argc - 1, 1);
    return 1;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    if (getenv("CROPNET_TRACEBACK"))
        luaL_traceback(L, L, msg, 1);
    return 1;
}

int main(int argc, char **argv)
{
    cn_gdal_set_quiet(true); /* every failure is reported as one "cropnet: ..." line */
    lua_State *L = luaL_newstate();
    if (!L) {
        fputs("cropnet: cannot create the Lua state: out of memory\n", stderr);
        return 1;
    }
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, run);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 1);
    int code;
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "cropnet: %s\n", msg ? msg : "unknown error");
        code = 1;
    } else {
        code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    }
    lua_close(L);
    return code;
}
