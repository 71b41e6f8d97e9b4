/*
 * lmodel.c — models in Lua: cn.model(net, meta), cn.load(path) and the model methods (save,
 * forward, predict, meta, set_meta; the net field).
 *
 * A missing, truncated, corrupt or newer file is an environmental failure: load and save return
 * nil and "path: reason" instead of raising, as io.open does. Misuse (wrong argument types, bad
 * metadata keys, a closed handle) raises.
 */
#include "lcropnet.h"

#include <string.h>

typedef struct lcn_model {
    cn_model *m; /* NULL when closed */
} lcn_model;

static cn_model *checkmodel(lua_State *L, int idx)
{
    lcn_model *u = luaL_checkudata(L, idx, LCN_MODEL);
    if (u->m == NULL)
        luaL_error(L, "attempt to use a closed model");
    return u->m;
}

cn_model **lcn_newmodel(lua_State *L)
{
    lcn_model *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->m = NULL;
    luaL_setmetatable(L, LCN_MODEL);
    return &u->m;
}

/* Returns nil, "path: reason" for failures of the file, raises for the others. */
static int file_fail(lua_State *L, cn_status st, const char *path)
{
    if (st == CN_ENOMEM || st == CN_EINVAL || st == CN_EOVERFLOW)
        return lcn_fail(L);
    const char *msg = cn_last_error();
    lua_pushnil(L);
    if (strncmp(msg, path, strlen(path)) == 0)
        lua_pushstring(L, msg);
    else
        lua_pushfstring(L, "%s: %s", path, msg);
    return 2;
}

static void set_meta(lua_State *L, cn_model *m, int key, int value)
{
    if (lua_type(L, key) != LUA_TSTRING || lua_type(L, value) != LUA_TSTRING)
        luaL_error(L, "model metadata keys and values must be strings (given %s = %s)",
                   luaL_typename(L, key), luaL_typename(L, value));
    const char *k = lua_tostring(L, key), *v = lua_tostring(L, value);
    if (strlen(k) != lua_rawlen(L, key) || strlen(v) != lua_rawlen(L, value))
        luaL_error(L, "model metadata must not contain zero bytes");
    if (cn_model_set_meta(m, k, v))
        lcn_fail(L);
}

/* cn.model(net [, meta]) */
static int l_model(lua_State *L)
{
    cn_layer *net = lcn_checklayer(L, 1);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2); /* the model goes to slot 3 */
    cn_model **m = lcn_newmodel(L);
    if (cn_model_new(net, m))
        return lcn_fail(L);
    if (lua_istable(L, 2)) {
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            set_meta(L, *m, -2, -1);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, 3);
    return 1;
}

static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    cn_model **m = lcn_newmodel(L);
    cn_status st = cn_model_load(path, m);
    if (st)
        return file_fail(L, st, path);
    return 1;
}

static int md_save(lua_State *L)
{
    cn_model *m = checkmodel(L, 1);
    const char *path = luaL_checkstring(L, 2);
    cn_status st = cn_model_save(m, path);
    if (st)
        return file_fail(L, st, path);
    lua_pushboolean(L, 1);
    return 1;
}

static int md_forward(lua_State *L)
{
    cn_model *m = checkmodel(L, 1);
    cn_tensor *x = lcn_checkinput(L, 2), *y;
    if (cn_layer_forward(cn_model_net(m), x, &y))
        return lcn_fail(L);
    lcn_pushtensor(L, y, LCN_LAYER_OWNED);
    return 1;
}

/* predict(x) -> a new 1-D tensor of 1-based class ids, the row-wise argmax of the scores. */
static int md_predict(lua_State *L)
{
    cn_model *m = checkmodel(L, 1);
    cn_tensor *x = lcn_checkinput(L, 2), *y;
    int64_t zero = 0;
    cn_tensor *ids = lcn_pushnewtensor(L, 1, &zero);
    if (cn_layer_forward(cn_model_net(m), x, &y) || cn_argmax_rows(y, ids))
        return lcn_fail(L);
    float *p = cn_tensor_data(ids);
    for (int64_t i = 0, n = cn_tensor_numel(ids); i < n; i++)
        p[i] += 1.0f;
    return 1;
}

/* meta(key) -> value or nil; meta() -> table of every key */
static int md_meta(lua_State *L)
{
    cn_model *m = checkmodel(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        const char *v = cn_model_get_meta(m, luaL_checkstring(L, 2));
        if (v)
            lua_pushstring(L, v);
        else
            lua_pushnil(L);
        return 1;
    }
    size_t n = cn_model_meta_count(m);
    lua_createtable(L, 0, n > 1000 ? 1000 : (int)n);
    for (size_t i = 0; i < n; i++) {
        const char *k = cn_model_meta_key(m, i);
        if (k) {
            lua_pushstring(L, cn_model_get_meta(m, k));
            lua_setfield(L, -2, k);
        }
    }
    return 1;
}

static int md_set_meta(lua_State *L)
{
    cn_model *m = checkmodel(L, 1);
    set_meta(L, m, 2, 3);
    lua_settop(L, 1);
    return 1;
}

/* model:set_tensor(name, t): stores t (a copy) under name, e.g. "norm.mean"; returns model. */
static int md_set_tensor(lua_State *L)
{
    cn_model *m = checkmodel(L, 1);
    const char *name = luaL_checkstring(L, 2);
    cn_tensor *src = lcn_checktensor(L, 3), *copy;
    int64_t zero = 0;
    if (cn_tensor_new(1, &zero, &copy))
        return lcn_fail(L);
    cn_status st = cn_tensor_copy(copy, src);
    if (!st)
        st = cn_model_set_tensor(m, name, copy);
    cn_tensor_release(copy); /* the model holds its own reference */
    if (st)
        return lcn_fail(L);
    lua_settop(L, 1);
    return 1;
}

/* model:tensor(name) → a copy of the stored tensor, or nil. */
static int md_tensor(lua_State *L)
{
    cn_model *m = checkmodel(L, 1);
    cn_tensor *t = cn_model_get_tensor(m, luaL_checkstring(L, 2));
    if (!t) {
        lua_pushnil(L);
        return 1;
    }
    int64_t zero = 0;
    cn_tensor *copy = lcn_pushnewtensor(L, 1, &zero);
    if (cn_tensor_copy(copy, t))
        return lcn_fail(L);
    return 1;
}

static int md_tostring(lua_State *L)
{
    lcn_model *u = luaL_checkudata(L, 1, LCN_MODEL);
    if (u->m == NULL) {
        lua_pushliteral(L, "model (closed)");
        return 1;
    }
    lua_pushliteral(L, "model: ");
    lcn_pushlayer(L, cn_model_net(u->m));
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    lua_concat(L, 2);
    return 1;
}

static int md_gc(lua_State *L)
{
    lcn_model *u = luaL_checkudata(L, 1, LCN_MODEL);
    cn_model *m = u->m;
    u->m = NULL;
    cn_model_free(m);
    return 0;
}

/* __index: the methods, then the net field. */
static int md_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "net") == 0) {
        lcn_pushlayer(L, cn_model_net(checkmodel(L, 1)));
        return 1;
    }
    return 0;
}

static const luaL_Reg model_methods[] = {
    {"save", md_save}, {"forward", md_forward}, {"predict", md_predict},
    {"meta", md_meta}, {"set_meta", md_set_meta}, {"close", md_gc},
    {"set_tensor", md_set_tensor}, {"tensor", md_tensor},
    {NULL, NULL},
};

static const luaL_Reg model_meta[] = {
    {"__tostring", md_tostring}, {"__gc", md_gc}, {"__close", md_gc}, {NULL, NULL},
};

static const luaL_Reg model_functions[] = {
    {"model", l_model},
    {"load", l_load},
    {NULL, NULL},
};

void lcn_open_model(lua_State *L)
{
    lcn_createmeta(L, LCN_MODEL, model_methods, model_meta, md_index);
    luaL_setfuncs(L, model_functions, 0);
}
