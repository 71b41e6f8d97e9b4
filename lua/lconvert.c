/*
 * lconvert.c — Lua values to tensors: nested tables of numbers (checked to be rectangular, at
 * most 4 levels deep, numbers only), layer buffers copied before they are fed back to a layer,
 * and 1-based class ids turned into the core's 0-based ones.
 *
 * Every tensor made here is pushed as a Lua userdata before it is filled, so an error halfway
 * through a table leaves the garbage collector to free it.
 */
#include "lcropnet.h"

#include <math.h>
#include <stdio.h>

/* The shape of a nested table, read along its first elements. */
static int table_shape(lua_State *L, int idx, int64_t *dims)
{
    int nd = 0;
    lua_pushvalue(L, idx);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (nd == CN_MAX_DIMS)
            luaL_argerror(L, idx, "table nested deeper than 5 levels");
        lua_Unsigned n = lua_rawlen(L, -1);
        if (n > (lua_Unsigned)INT64_MAX)
            luaL_argerror(L, idx, "table too large");
        dims[nd++] = (int64_t)n;
        if (n == 0)
            break;
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return nd;
}

/* Copies the table at the stack top (depth d of nd) into *out, checking it is rectangular. */
static void table_fill(lua_State *L, int arg, int d, int nd, const int64_t *dims, int64_t *path,
                       float **out)
{
    char where[128] = "";
    size_t used = 0;
    for (int i = 0; i < d && used < sizeof where; i++)
        used += (size_t)snprintf(where + used, sizeof where - used, "[%lld]", (long long)path[i]);
    if ((int64_t)lua_rawlen(L, -1) != dims[d])
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "ragged table: element %s has %I entries, expected %I",
                                      d ? where : "(top)", (lua_Integer)lua_rawlen(L, -1),
                                      (lua_Integer)dims[d]));
    luaL_checkstack(L, 2, "nested table");
    for (int64_t i = 1; i <= dims[d]; i++) {
        int type = lua_rawgeti(L, -1, (lua_Integer)i);
        path[d] = i;
        if (d + 1 < nd) {
            if (type != LUA_TTABLE)
                luaL_argerror(L, arg, lua_pushfstring(L, "ragged table: element %s[%I] is a %s, "
                                                      "expected a table", where, (lua_Integer)i,
                                                      lua_typename(L, type)));
            table_fill(L, arg, d + 1, nd, dims, path, out);
        } else {
            if (type != LUA_TNUMBER)
                luaL_argerror(L, arg, lua_pushfstring(L, "element %s[%I] is a %s, expected a "
                                                      "number", where, (lua_Integer)i,
                                                      lua_typename(L, type)));
            *(*out)++ = lcn_tofloat(lua_tonumber(L, -1));
        }
        lua_pop(L, 1);
    }
}

/* Pushes a new tensor made from the nested table at idx. */
cn_tensor *lcn_pushfromtable(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    int64_t dims[CN_MAX_DIMS], path[CN_MAX_DIMS];
    int nd = table_shape(L, idx, dims);
    cn_tensor *t = lcn_pushnewtensor(L, nd, dims);
    float *p = cn_tensor_data(t);
    lua_pushvalue(L, idx);
    table_fill(L, idx, 0, nd, dims, path, &p);
    lua_pop(L, 1);
    return t;
}

cn_tensor *lcn_checkinput(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TTABLE)
        return lcn_pushfromtable(L, idx);
    lcn_tensor *u = lcn_checktensorud(L, idx);
    if (!(u->flags & LCN_LAYER_OWNED))
        return u->t;
    int64_t zero = 0;
    cn_tensor *copy = lcn_pushnewtensor(L, 1, &zero);
    if (cn_tensor_copy(copy, u->t))
        lcn_fail(L);
    return copy;
}

cn_tensor *lcn_checkclasses(lua_State *L, int idx, int64_t classes)
{
    idx = lua_absindex(L, idx);
    int64_t n;
    if (lua_type(L, idx) == LUA_TTABLE) {
        n = (int64_t)lua_rawlen(L, idx);
    } else {
        n = cn_tensor_numel(lcn_checktensor(L, idx));
    }
    cn_tensor *ids = lcn_pushnewtensor(L, 1, &n);
    float *p = cn_tensor_data(ids);
    const float *src = lua_type(L, idx) == LUA_TTABLE ? NULL : cn_tensor_cdata(lcn_checktensor(L, idx));
    for (int64_t i = 0; i < n; i++) {
        lua_Number v;
        if (src) {
            v = src[i];
        } else {
            if (lua_rawgeti(L, idx, (lua_Integer)(i + 1)) != LUA_TNUMBER)
                luaL_argerror(L, idx, lua_pushfstring(L, "class id %I is a %s, expected a number",
                                                      (lua_Integer)(i + 1), luaL_typename(L, -1)));
            v = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        if (!(v >= 1 && v <= 16777216 && v == floor(v)) || (classes > 0 && v > (lua_Number)classes))
            luaL_argerror(L, idx, classes > 0
                ? lua_pushfstring(L, "class id %f at position %I is not an integer in 1..%I", v,
                                  (lua_Integer)(i + 1), (lua_Integer)classes)
                : lua_pushfstring(L, "class id %f at position %I is not an integer >= 1", v,
                                  (lua_Integer)(i + 1)));
        p[i] = (float)(v - 1);
    }
    return ids;
}
