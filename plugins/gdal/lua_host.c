/*
 * lua_host.c — one Lua 5.4 state per thread for the cropnet_lua pixel function.
 *
 * A lua_State is not thread-safe, and GDAL may call a pixel function from several threads, so
 * each thread gets its own state on first use, closed by a thread-specific-data destructor when
 * the thread ends (the process's main thread keeps its state until exit). Each state has the
 * standard libraries, cropnet.core preloaded from the binding linked into the plugin, and
 * package.path pointing at the cropnet Lua sources, so a script can `require "cropnet"`.
 *
 * Everything that may raise runs under lua_pcall (cnp_lua_protect): a script's error becomes
 * the cn error message and never unwinds through GDAL's frames. While a script runs, a quiet
 * GDAL error handler marked with our own user data sits on this thread's handler stack; the
 * core's GDAL calls push a quiet handler of their own on the first call of a thread and leave it
 * there, which on a host's thread would silence every later GDAL message, so whatever sits above
 * our marker when the script returns is popped with it.
 */
#include "plugin.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <pthread.h>
#include <unistd.h>

int luaopen_cropnet_core(lua_State *L);

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t state_key;
static bool key_ok;
static _Thread_local lua_State *thread_state;

static void close_state(void *L) { lua_close(L); }

static void make_key(void) { key_ok = pthread_key_create(&state_key, close_state) == 0; }

/* The cropnet Lua sources: CROPNET_LUA_DIR (environment or GDAL configuration option), then the
 * source tree the plugin was built from, then the install tree. */
static const char *lua_dir(void)
{
    const char *dir = CPLGetConfigOption("CROPNET_LUA_DIR", NULL);
    if (dir && *dir)
        return dir;
    if (access(CROPNET_LUA_BUILD_DIR "/cropnet/init.lua", R_OK) == 0)
        return CROPNET_LUA_BUILD_DIR;
    return CROPNET_LUA_INSTALL_DIR;
}

static int setup(lua_State *L)
{
    const char *dir = lua_touserdata(L, 1);
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_cropnet_core);
    lua_setfield(L, -2, "cropnet.core");
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
    return 0;
}

cn_status cnp_lua_state(lua_State **out)
{
    if (thread_state) {
        *out = thread_state;
        return CN_OK;
    }
    pthread_once(&key_once, make_key);
    lua_State *L = luaL_newstate();
    if (!L)
        return cn_set_error(CN_ENOMEM, "cannot create a Lua state: out of memory");
    if (cnp_lua_protect(L, setup, (void *)lua_dir())) {
        lua_close(L);
        return CN_ENOMEM; /* only a memory error can fail the set-up; the message is set */
    }
    if (key_ok)
        pthread_setspecific(state_key, L); /* closed with the thread */
    *out = thread_state = L;
    return CN_OK;
}

static char marker; /* the user data that tells our handler from others on the stack */

cn_status cnp_lua_protect(lua_State *L, int (*fn)(lua_State *L), void *ud)
{
    int top = lua_gettop(L);
    cn_status st = CN_OK;
    if (!lua_checkstack(L, 2))
        return cn_set_error(CN_ENOMEM, "Lua stack overflow");
    CPLPushErrorHandlerEx(CPLQuietErrorHandler, &marker);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ud);
    int rc = lua_pcall(L, 1, 0, 0);
    for (int i = 0; i < 64 && CPLGetErrorHandlerUserData() != &marker; i++)
        CPLPopErrorHandler(); /* pushed by the core while the script ran (see above) */
    CPLPopErrorHandler();
    if (rc != LUA_OK) {
        /* Unprotected here: read the message without converting (no allocation, no raise). */
        if (lua_type(L, -1) == LUA_TSTRING)
            st = cn_set_error(rc == LUA_ERRMEM ? CN_ENOMEM : CN_EINVAL, "%s", lua_tostring(L, -1));
        else
            st = cn_set_error(CN_EINVAL, "error (the error object is a %s value)",
                              luaL_typename(L, -1));
    }
    lua_settop(L, top);
    return st;
}
