/*
 * ltensor.c — tensors in Lua: cn.tensor, cn.zeros, cn.randn, cn.rand and the tensor methods.
 *
 * A tensor userdata holds one reference to a refcounted cn_tensor, so a layer's output buffer or
 * weight handed to Lua stays valid after the layer is gone. Lua sees 1-based indices; every index,
 * size and nested table is checked here, since the C core trusts its callers on those.
 */
#include "lcropnet.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Doubles outside float range become ±inf explicitly (the C conversion would be undefined). */
static float to_float(lua_Number v)
{
    if (v > FLT_MAX)
        return INFINITY;
    if (v < -FLT_MAX)
        return -INFINITY;
    return (float)v;
}

lcn_tensor *lcn_totensorud(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, LCN_TENSOR);
}

static lcn_tensor *checkud(lua_State *L, int idx)
{
    lcn_tensor *u = luaL_checkudata(L, idx, LCN_TENSOR);
    if (u->t == NULL)
        luaL_error(L, "attempt to use a closed tensor");
    return u;
}

cn_tensor *lcn_checktensor(lua_State *L, int idx)
{
    return checkud(L, idx)->t;
}

static lcn_tensor *newud(lua_State *L, int flags)
{
    lcn_tensor *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->t = NULL; /* closed until the tensor exists */
    u->flags = flags;
    luaL_setmetatable(L, LCN_TENSOR);
    return u;
}

cn_tensor *lcn_pushtensor(lua_State *L, cn_tensor *t, int flags)
{
    lcn_tensor *u = newud(L, flags);
    u->t = cn_tensor_retain(t);
    return t;
}

cn_tensor *lcn_pushnewtensor(lua_State *L, int ndim, const int64_t *dims)
{
    lcn_tensor *u = newud(L, 0);
    if (cn_tensor_new(ndim, dims, &u->t))
        lcn_fail(L);
    return u->t;
}

/* Reads dimension arguments first..top into dims; returns their count. */
static int checkdims(lua_State *L, int first, int64_t *dims)
{
    int n = lua_gettop(L) - first + 1;
    luaL_argcheck(L, n >= 1, first, "expected 1 to 4 sizes");
    luaL_argcheck(L, n <= CN_MAX_DIMS, first + CN_MAX_DIMS, "expected 1 to 4 sizes");
    for (int i = 0; i < n; i++) {
        lua_Integer d = luaL_checkinteger(L, first + i);
        luaL_argcheck(L, d >= 0, first + i, "size must be >= 0");
        dims[i] = (int64_t)d;
    }
    return n;
}

/* --------------------------------------------------------------- tables to tensors */

/* The shape of a nested table, read along its first elements. */
static int table_shape(lua_State *L, int idx, int64_t *dims)
{
    int nd = 0;
    lua_pushvalue(L, idx);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (nd == CN_MAX_DIMS)
            luaL_argerror(L, idx, "table nested deeper than 4 levels");
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
            *(*out)++ = to_float(lua_tonumber(L, -1));
        }
        lua_pop(L, 1);
    }
}

/* Pushes a new tensor made from the nested table at idx. */
static cn_tensor *push_from_table(lua_State *L, int idx)
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
        return push_from_table(L, idx);
    lcn_tensor *u = checkud(L, idx);
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

/* --------------------------------------------------------------- constructors */

/* cn.tensor(table) | cn.tensor(tensor) (a copy) | cn.tensor(d1, ...) (zeros) */
static int l_tensor(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TTABLE) {
        luaL_argcheck(L, lua_gettop(L) == 1, 2, "no arguments expected after a table");
        push_from_table(L, 1);
        return 1;
    }
    if (lcn_totensorud(L, 1)) {
        cn_tensor *src = lcn_checktensor(L, 1);
        int64_t zero = 0;
        if (cn_tensor_copy(lcn_pushnewtensor(L, 1, &zero), src))
            return lcn_fail(L);
        return 1;
    }
    int64_t dims[CN_MAX_DIMS];
    int nd = checkdims(L, 1, dims);
    lcn_pushnewtensor(L, nd, dims);
    return 1;
}

static int l_zeros(lua_State *L)
{
    int64_t dims[CN_MAX_DIMS];
    int nd = checkdims(L, 1, dims);
    lcn_pushnewtensor(L, nd, dims);
    return 1;
}

static int random_tensor(lua_State *L, int normal)
{
    int64_t dims[CN_MAX_DIMS];
    int nd = checkdims(L, 1, dims);
    cn_tensor *t = lcn_pushnewtensor(L, nd, dims);
    cn_rng *rng = lcn_rng(L);
    float *p = cn_tensor_data(t);
    for (int64_t i = 0, n = cn_tensor_numel(t); i < n; i++)
        p[i] = (float)(normal ? cn_rng_normal(rng) : cn_rng_uniform(rng));
    return 1;
}

static int l_randn(lua_State *L) { return random_tensor(L, 1); }
static int l_rand(lua_State *L) { return random_tensor(L, 0); }

/* --------------------------------------------------------------- methods */

static int t_size(lua_State *L)
{
    cn_tensor *t = lcn_checktensor(L, 1);
    int nd = cn_tensor_ndim(t);
    if (!lua_isnoneornil(L, 2)) {
        lua_Integer i = luaL_checkinteger(L, 2);
        luaL_argcheck(L, i >= 1 && i <= nd, 2,
                      lua_pushfstring(L, "dimension %I out of range 1..%d", i, nd));
        lua_pushinteger(L, (lua_Integer)cn_tensor_dim(t, (int)i - 1));
        return 1;
    }
    luaL_checkstack(L, nd, NULL);
    for (int i = 0; i < nd; i++)
        lua_pushinteger(L, (lua_Integer)cn_tensor_dim(t, i));
    return nd;
}

static int t_dim(lua_State *L)
{
    lua_pushinteger(L, cn_tensor_ndim(lcn_checktensor(L, 1)));
    return 1;
}

static int t_numel(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)cn_tensor_numel(lcn_checktensor(L, 1)));
    return 1;
}

static int t_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)cn_tensor_dim(lcn_checktensor(L, 1), 0));
    return 1;
}

/* The flat offset of the 1-based indices at args 2..nd+1, each bounds-checked. */
static int64_t checkoffset(lua_State *L, cn_tensor *t, int nidx)
{
    int nd = cn_tensor_ndim(t);
    if (nidx != nd)
        luaL_error(L, "expected %d indices for a %d-D tensor, got %d", nd, nd, nidx);
    int64_t off = 0;
    for (int i = 0; i < nd; i++) {
        lua_Integer k = luaL_checkinteger(L, 2 + i);
        int64_t d = cn_tensor_dim(t, i);
        if (k < 1 || k > d)
            luaL_argerror(L, 2 + i, lua_pushfstring(L, "index %I out of range 1..%I in dimension %d",
                                                    k, (lua_Integer)d, i + 1));
        off = off * d + (k - 1);
    }
    return off;
}

static int t_get(lua_State *L)
{
    cn_tensor *t = lcn_checktensor(L, 1);
    int64_t off = checkoffset(L, t, lua_gettop(L) - 1);
    lua_pushnumber(L, cn_tensor_cdata(t)[off]);
    return 1;
}

static int t_set(lua_State *L)
{
    cn_tensor *t = lcn_checktensor(L, 1);
    int top = lua_gettop(L);
    lua_Number v = luaL_checknumber(L, top);
    int64_t off = checkoffset(L, t, top - 2);
    cn_tensor_data(t)[off] = to_float(v);
    lua_settop(L, 1);
    return 1;
}

static void push_table(lua_State *L, const float **p, const cn_tensor *t, int d)
{
    int64_t n = cn_tensor_dim(t, d);
    luaL_checkstack(L, 2, NULL);
    lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        if (d + 1 < cn_tensor_ndim(t))
            push_table(L, p, t, d + 1);
        else
            lua_pushnumber(L, *(*p)++);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
}

static int t_totable(lua_State *L)
{
    cn_tensor *t = lcn_checktensor(L, 1);
    const float *p = cn_tensor_cdata(t);
    push_table(L, &p, t, 0);
    return 1;
}

static int t_fill(lua_State *L)
{
    cn_tensor *t = lcn_checktensor(L, 1);
    cn_tensor_fill(t, to_float(luaL_checknumber(L, 2)));
    lua_settop(L, 1);
    return 1;
}

static int t_clone(lua_State *L)
{
    cn_tensor *t = lcn_checktensor(L, 1);
    int64_t zero = 0;
    if (cn_tensor_copy(lcn_pushnewtensor(L, 1, &zero), t))
        return lcn_fail(L);
    return 1;
}

static int t_copy(lua_State *L)
{
    lcn_tensor *dst = checkud(L, 1);
    cn_tensor *src = lcn_checktensor(L, 2);
    if ((dst->flags & LCN_LAYER_OWNED) && !cn_tensor_same_shape(dst->t, src)) {
        char a[96], b[96];
        return luaL_error(L, "copy: a layer's tensor keeps its size %s; given a source of size %s",
                          cn_tensor_shape_str(dst->t, a, sizeof a), cn_tensor_shape_str(src, b, sizeof b));
    }
    if (cn_tensor_copy(dst->t, src))
        return lcn_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int t_resize(lua_State *L)
{
    lcn_tensor *u = checkud(L, 1);
    int64_t dims[CN_MAX_DIMS];
    int nd = checkdims(L, 2, dims);
    if (u->flags & LCN_LAYER_OWNED)
        return luaL_error(L, "resize: a tensor owned by a layer cannot be resized");
    if (cn_tensor_resize(u->t, nd, dims))
        return lcn_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int t_argmax(lua_State *L)
{
    cn_tensor *t = lcn_checktensor(L, 1);
    int64_t zero = 0;
    cn_tensor *ids = lcn_pushnewtensor(L, 1, &zero);
    if (cn_tensor_ndim(t) > 2)
        return luaL_error(L, "argmax: expected a 1-D or 2-D tensor, got %d-D", cn_tensor_ndim(t));
    if (cn_tensor_dim(t, cn_tensor_ndim(t) - 1) < 1)
        return luaL_error(L, "argmax: the tensor has no columns");
    if (cn_argmax_rows(t, ids))
        return lcn_fail(L);
    float *p = cn_tensor_data(ids);
    for (int64_t i = 0, n = cn_tensor_numel(ids); i < n; i++)
        p[i] += 1.0f;
    return 1;
}

static int t_tostring(lua_State *L)
{
    lcn_tensor *u = luaL_checkudata(L, 1, LCN_TENSOR);
    if (u->t == NULL) {
        lua_pushliteral(L, "tensor (closed)");
        return 1;
    }
    char shape[96], num[32];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "tensor");
    luaL_addstring(&b, cn_tensor_shape_str(u->t, shape, sizeof shape));
    luaL_addstring(&b, " {");
    const float *p = cn_tensor_cdata(u->t);
    int64_t n = cn_tensor_numel(u->t), shown = n < 8 ? n : 8;
    for (int64_t i = 0; i < shown; i++) {
        snprintf(num, sizeof num, "%s%.6g", i ? ", " : "", (double)p[i]);
        luaL_addstring(&b, num);
    }
    if (shown < n)
        luaL_addstring(&b, ", ...");
    luaL_addstring(&b, "}");
    luaL_pushresult(&b);
    return 1;
}

static int t_eq(lua_State *L)
{
    lcn_tensor *a = lcn_totensorud(L, 1), *b = lcn_totensorud(L, 2);
    lua_pushboolean(L, a && b && a->t && a->t == b->t);
    return 1;
}

/* __gc, __close and close(): marks the handle closed before dropping the reference. */
static int t_gc(lua_State *L)
{
    lcn_tensor *u = luaL_checkudata(L, 1, LCN_TENSOR);
    cn_tensor *t = u->t;
    u->t = NULL;
    cn_tensor_release(t);
    return 0;
}

static const luaL_Reg tensor_methods[] = {
    {"size", t_size},     {"dim", t_dim},         {"numel", t_numel},   {"get", t_get},
    {"set", t_set},       {"totable", t_totable}, {"fill", t_fill},     {"clone", t_clone},
    {"copy", t_copy},     {"resize", t_resize},   {"argmax", t_argmax}, {"close", t_gc},
    {NULL, NULL},
};

static const luaL_Reg tensor_meta[] = {
    {"__len", t_len}, {"__tostring", t_tostring}, {"__eq", t_eq}, {"__gc", t_gc},
    {"__close", t_gc}, {NULL, NULL},
};

static const luaL_Reg tensor_functions[] = {
    {"tensor", l_tensor}, {"zeros", l_zeros}, {"randn", l_randn}, {"rand", l_rand}, {NULL, NULL},
};

void lcn_open_tensor(lua_State *L)
{
    lcn_createmeta(L, LCN_TENSOR, tensor_methods, tensor_meta, NULL);
    luaL_setfuncs(L, tensor_functions, 0);
}
