/*
 * lrun.c — a long C call driven from Lua: its progress callback and its interruption.
 *
 * Tiled classification, import and scene generation run for seconds to minutes inside one C call
 * that owns buffers and temporary files. A Lua progress function is called from that call's
 * cn_progress_fn under lua_pcall, so an error in it never longjmps through the C frames: the
 * callback cancels, the C call cleans up and returns, and lcn_run_end raises the error again.
 * (cn.train's on_epoch runs by the same lcn_protected_call, without the signals.)
 * While the call runs, SIGINT and SIGTERM set a flag the callback reads (the previous handlers
 * come back afterwards); a second signal before the cancel lands takes the default action.
 */
#include "lcropnet.h"

#include <string.h>

static volatile sig_atomic_t interrupted; /* the signal number, 0 when none */

static void on_signal(int sig)
{
    if (interrupted) { /* asked twice: stop now, as without us */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    interrupted = sig;
}

int lcn_progress_opt(lua_State *L, int idx, const char *fname)
{
    int t = lua_getfield(L, idx, "progress");
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (t != LUA_TFUNCTION)
        luaL_error(L, "%s: option 'progress' must be a function (got %s)", fname,
                   luaL_typename(L, -1));
    return lua_gettop(L);
}

void lcn_run_begin(lua_State *L, lcn_run *r, int fn)
{
    memset(r, 0, sizeof *r);
    r->L = L;
    r->fn = fn;
    luaL_checkstack(L, 8, "progress callback");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &r->old_int);
    sigaction(SIGTERM, &sa, &r->old_term);
}

int lcn_protected_call(lua_State *L, lua_CFunction f, void *ud, int fn)
{
    int base = lua_gettop(L);
    lua_pushcfunction(L, lcn_traceback);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, ud);
    lua_pushvalue(L, fn);
    int st = lua_pcall(L, 2, 0, base + 1);
    if (st != LUA_OK)
        lua_remove(L, base + 1); /* keep the error object alone at the top */
    else
        lua_settop(L, base);
    return st;
}

static int call_progress(lua_State *L)
{
    lcn_run *r = lua_touserdata(L, 1);
    lua_pushvalue(L, 2);
    lua_pushnumber(L, r->fraction);
    lua_call(L, 1, 1);
    r->stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    return 0;
}

int lcn_run_progress(double fraction, const char *message, void *data)
{
    (void)message;
    lcn_run *r = data;
    if (interrupted)
        return 0;
    if (!r->fn)
        return 1;
    r->fraction = fraction;
    if (lcn_protected_call(r->L, call_progress, r, r->fn) != LUA_OK) {
        r->failed = 1;
        return 0;
    }
    return !r->stop && !interrupted;
}

int lcn_run_end(lua_State *L, lcn_run *r, cn_status st, const char *what)
{
    sigaction(SIGINT, &r->old_int, NULL);
    sigaction(SIGTERM, &r->old_term, NULL);
    int sig = interrupted;
    interrupted = 0;
    if (r->failed)
        return lua_error(L); /* the callback's error, left at the top by lcn_run_progress */
    if (st == CN_OK)
        return 0;
    if (st == CN_ECANCELLED && sig)
        cn_set_error(st, "%s: interrupted by %s", what, sig == SIGINT ? "SIGINT" : "SIGTERM");
    int n = lcn_failresult(L, st);
    if (!sig)
        return n;
    lua_pushliteral(L, "interrupted");
    return 3;
}
