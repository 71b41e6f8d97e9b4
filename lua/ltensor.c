/*
 * ltensor.c — tensors in Lua: cn.tensor, cn.zeros, cn.randn, cn.rand and the tensor methods.
 *
 * A tensor userdata holds one reference to a refcounted cn_tensor, so a layer's output buffer or
 * weight handed to Lua stays valid after the layer is gone. Lua sees 1-based indices; every index
 * and size is checked here (tables in lconvert.c), since the C core trusts its callers on those.
 */
#include "lcropnet.h"

#include <stdio.h>
#include <string.h>

lcn_tensor *lcn_totensorud(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, LCN_TENSOR);
}

lcn_tensor *lcn_checktensorud(lua_State *L, int idx)
{
    lcn_tensor *u = luaL_checkudata(L, idx, LCN_TENSOR);
    if (u->t == NULL)
        luaL_error(L, "attempt to use a closed tensor");
    return u;
}

cn_tensor *lcn_checktensor(lua_State *L, int idx)
{
    return lcn_checktensorud(L, idx)->t;
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
    luaL_argcheck(L, n >= 1, first, "expected 1 to 5 sizes");
    luaL_argcheck(L, n <= CN_MAX_DIMS, first + CN_MAX_DIMS, "expected 1 to 5 sizes");
    for (int i = 0; i < n; i++) {
        lua_Integer d = luaL_checkinteger(L, first + i);
        luaL_argcheck(L, d >= 0, first + i, "size must be >= 0");
        dims[i] = (int64_t)d;
    }
    return n;
}

/* --------------------------------------------------------------- constructors */

/* cn.tensor(table) | cn.tensor(tensor) (a copy) | cn.tensor(d1, ...) (zeros) */
static int l_tensor(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TTABLE) {
        luaL_argcheck(L, lua_gettop(L) == 1, 2, "no arguments expected after a table");
        lcn_pushfromtable(L, 1);
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
    cn_tensor_data(t)[off] = lcn_tofloat(v);
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
    cn_tensor_fill(t, lcn_tofloat(luaL_checknumber(L, 2)));
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
    lcn_tensor *dst = lcn_checktensorud(L, 1);
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
    lcn_tensor *u = lcn_checktensorud(L, 1);
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

/* t:standardize(mean, std): columns scaled in place, (x − mean) / std; returns t. */
static int t_standardize(lua_State *L)
{
    lcn_tensor *u = lcn_checktensorud(L, 1);
    cn_tensor *mean = lcn_checktensor(L, 2), *std = lcn_checktensor(L, 3);
    if (cn_tensor_standardize(u->t, mean, std))
        return lcn_fail(L);
    lua_settop(L, 1);
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
    {"standardize", t_standardize},
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
