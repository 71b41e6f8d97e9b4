/*
 * lopts.c — reading the option tables of the binding's calls: known names, integer ranges and
 * lists of strings (see lopts.h). The messages are part of the API: the Lua specs check them.
 */
#include "lopts.h"

#include <string.h>

void lcn_check_options(lua_State *L, int idx, const char *const *known, const char *fname)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int i = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            while (known[i] && strcmp(known[i], lua_tostring(L, -2)) != 0)
                i++;
        if (lua_type(L, -2) != LUA_TSTRING || !known[i])
            luaL_error(L, "%s: unknown option '%s'", fname,
                       lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
        lua_pop(L, 1);
    }
}

lua_Integer lcn_int_opt(lua_State *L, int idx, const char *name, lua_Integer def, lua_Integer lo,
                        lua_Integer hi, const char *fname)
{
    int isnum;
    lua_getfield(L, idx, name);
    lua_Integer v = lua_isnil(L, -1) ? def : lua_tointegerx(L, -1, &isnum);
    if (!lua_isnil(L, -1) && (!isnum || v < lo || v > hi))
        luaL_error(L, "%s: option '%s' must be an integer in %I..%I", fname, name, lo, hi);
    lua_pop(L, 1);
    return v;
}

const char *const *lcn_string_array(lua_State *L, int idx, lua_Integer *bad)
{
    idx = lua_absindex(L, idx);
    lua_Integer n = luaL_len(L, idx);
    *bad = 0;
    if (n < 0 || n > LCN_STRINGS_MAX)
        return NULL;
    /* measure first: one allocation for the pointers and the characters */
    size_t bytes = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, idx, i) != LUA_TSTRING) {
            lua_pop(L, 1);
            *bad = i;
            return NULL;
        }
        bytes += lua_rawlen(L, -1) + 1;
        lua_pop(L, 1);
    }
    size_t head = ((size_t)n + 1) * sizeof(char *);
    char **list = lua_newuserdatauv(L, head + bytes, 0);
    char *p = (char *)list + head;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        memcpy(p, s, len + 1);
        list[i - 1] = p;
        p += len + 1;
        lua_pop(L, 1);
    }
    list[n] = NULL;
    return (const char *const *)list;
}

const char *const *lcn_strings_opt(lua_State *L, int idx, const char *name, const char *fname)
{
    int t = lua_getfield(L, idx, name);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (t != LUA_TTABLE)
        luaL_error(L, "%s: option '%s' must be a list of strings", fname, name);
    lua_Integer bad;
    const char *const *list = lcn_string_array(L, -1, &bad);
    if (!list && !bad)
        luaL_error(L, "%s: option '%s' has too many strings", fname, name);
    if (!list)
        luaL_error(L, "%s: option '%s' must be a list of strings", fname, name);
    return list;
}
