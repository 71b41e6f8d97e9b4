/*
 * lpatches.c — the binding of patch models: patches read from a raster, their statistics,
 * standardisation and augmentation (core.data.*), the receptive field of a network and a JSON
 * decoder for network specifications (core.*).
 *
 * Reading a raster is the caller's environment: a missing file or a position outside the raster
 * returns nil, "path: reason"; wrong argument types raise.
 */
#include "lcropnet.h"

#include <jansson.h>
#include <string.h>

/* core.data.read_patches(image, positions, patch) -> X (N x bands x patch x patch) or nil, msg.
 * image: a path or an open raster; positions: an N x 2 tensor of 0-based (row, col). */
static int l_read_patches(lua_State *L)
{
    /* every argument checked and every allocation made before the raster is opened, so nothing
     * raises while it is open */
    int is_path = lua_type(L, 1) == LUA_TSTRING;
    cn_raster *r = is_path ? NULL : lcn_checkraster(L, 1);
    cn_tensor *pos = lcn_totensorud(L, 2) ? lcn_checktensor(L, 2) : NULL;
    lua_Integer patch = luaL_checkinteger(L, 3);
    luaL_argcheck(L, pos && cn_tensor_ndim(pos) == 2 && cn_tensor_dim(pos, 1) == 2, 2,
                  "expected an N x 2 tensor of (row, col) positions");
    luaL_argcheck(L, patch >= 1 && patch <= CN_PATCH_MAX && patch % 2 == 1, 3,
                  "the patch side must be odd, in 1..255");
    int64_t n = cn_tensor_dim(pos, 0), zero = 0;
    int32_t *rc = lua_newuserdatauv(L, 2 * (size_t)(n ? n : 1) * sizeof *rc, 0);
    const float *p = cn_tensor_cdata(pos);
    for (int64_t i = 0; i < n; i++) {
        float row = p[2 * i], col = p[2 * i + 1];
        /* negative, huge or fractional: -1, a position the reader refuses */
        rc[i] = row >= 0 && row < 2e9f && row == (float)(int32_t)row ? (int32_t)row : -1;
        rc[n + i] = col >= 0 && col < 2e9f && col == (float)(int32_t)col ? (int32_t)col : -1;
    }
    cn_tensor *x = lcn_pushnewtensor(L, 1, &zero);
    cn_raster *opened = NULL;
    cn_status st = is_path ? cn_raster_open(lua_tostring(L, 1), &opened) : CN_OK;
    if (!st)
        st = cn_patches_read(is_path ? opened : r, rc, rc + n, n, (int)patch, x);
    cn_raster_close(opened);
    if (st)
        return lcn_failresult(L, st);
    return 1;
}

/* core.data.patch_stats(X) -> mean, std of the centre pixels */
static int l_patch_stats(lua_State *L)
{
    cn_tensor *x = lcn_checktensor(L, 1);
    int64_t c = cn_tensor_dim(x, 1);
    cn_tensor *mean = lcn_pushnewtensor(L, 1, &c), *std = lcn_pushnewtensor(L, 1, &c);
    if (cn_patch_band_stats(x, mean, std))
        return luaL_argerror(L, 1, cn_last_error());
    return 2;
}

/* core.data.standardize_patches(X, mean, std) -> X, standardised in place per band */
static int l_standardize_patches(lua_State *L)
{
    lcn_tensor *u = lcn_checktensorud(L, 1);
    luaL_argcheck(L, !(u->flags & LCN_LAYER_OWNED), 1, "a layer's own tensor");
    if (cn_patches_standardize(u->t, lcn_checktensor(L, 2), lcn_checktensor(L, 3)))
        return lcn_fail(L);
    lua_settop(L, 1);
    return 1;
}

/* core.data.augment_patches(X [, seed]) -> X, each sample turned by a random symmetry of the
 * square (from seed, or from the generator of cn.manual_seed) */
static int l_augment_patches(lua_State *L)
{
    lcn_tensor *u = lcn_checktensorud(L, 1);
    luaL_argcheck(L, !(u->flags & LCN_LAYER_OWNED), 1, "a layer's own tensor");
    cn_rng own, *rng = lcn_rng(L);
    if (!lua_isnoneornil(L, 2)) {
        cn_rng_seed(&own, (uint64_t)luaL_checkinteger(L, 2));
        rng = &own;
    }
    if (cn_patches_augment(u->t, rng))
        return luaL_argerror(L, 1, cn_last_error());
    lua_settop(L, 1);
    return 1;
}

/* core.receptive_field(net, patch) -> the side of the input square one output depends on */
static int l_receptive_field(lua_State *L)
{
    cn_layer *net = lcn_checklayer(L, 1);
    lua_Integer patch = luaL_checkinteger(L, 2);
    luaL_argcheck(L, patch >= 1 && patch <= CN_PATCH_MAX, 2, "patch side must be in 1..255");
    int rf;
    if (cn_net_receptive_field(net, (int)patch, &rf))
        return lcn_fail(L);
    lua_pushinteger(L, rf);
    return 1;
}

/* Pushes a decoded JSON value: objects and arrays as tables (arrays 1-based), null as nil,
 * integers as Lua integers. */
static void push_json(lua_State *L, json_t *v, int depth)
{
    if (depth > 100)
        luaL_error(L, "JSON nested too deeply");
    luaL_checkstack(L, 4, "JSON");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(v));
        const char *key;
        json_t *e;
        json_object_foreach(v, key, e) {
            push_json(L, e, depth + 1);
            lua_setfield(L, -2, key);
        }
        break;
    }
    case JSON_ARRAY: {
        lua_createtable(L, (int)json_array_size(v), 0);
        for (size_t i = 0; i < json_array_size(v); i++) {
            push_json(L, json_array_get(v, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(v));
        break;
    default:
        lua_pushnil(L);
        break;
    }
}

/* Run protected by l_json_decode, so a Lua error while building tables frees the document. */
static int push_json_protected(lua_State *L)
{
    push_json(L, lua_touserdata(L, 1), 0);
    return 1;
}

/* core.json_decode(text) -> value, or nil, "reason at line L, column C" */
static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    json_error_t err;
    json_t *doc = json_loadb(s, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!doc) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s at line %d, column %d", err.text, err.line, err.column);
        return 2;
    }
    lua_pushcfunction(L, push_json_protected);
    lua_pushlightuserdata(L, doc);
    int rc = lua_pcall(L, 1, 1, 0);
    json_decref(doc);
    if (rc != LUA_OK)
        return lua_error(L);
    return 1;
}

static const luaL_Reg data_functions[] = {
    {"read_patches", l_read_patches},
    {"patch_stats", l_patch_stats},
    {"standardize_patches", l_standardize_patches},
    {"augment_patches", l_augment_patches},
    {NULL, NULL},
};

static const luaL_Reg core_functions[] = {
    {"receptive_field", l_receptive_field},
    {"json_decode", l_json_decode},
    {NULL, NULL},
};

void lcn_open_patches(lua_State *L)
{
    luaL_setfuncs(L, core_functions, 0);
    if (lua_getfield(L, -1, "data") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "data");
    }
    luaL_setfuncs(L, data_functions, 0);
    lua_pop(L, 1);
}
