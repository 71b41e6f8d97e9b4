/*
 * llayers.c — the convolutional-network layer constructors in Lua, with Torch's names and
 * argument orders: SpatialConvolution, SpatialDilatedConvolution, VolumetricConvolution,
 * SpatialMaxPooling, SpatialAveragePooling, GlobalAveragePooling, Flatten, View, Dropout,
 * BatchNormalization (and its Spatial/Volumetric aliases), ResidualBlock.
 *
 * Positional arguments follow Torch, width before height (kW, kH, dW, dH, padW, padH); the table
 * form follows PyTorch, axes in tensor order: {in_channels = (or ["in"] =), out_channels = (or
 * out =), kernel = 3 or {kh, kw}, stride =, padding =, dilation =, bias = true, floor = false}. Convolution weights are drawn He-uniform
 * (the usual choice before ReLU) from the generator of cn.manual_seed, biases zero; dropout masks
 * are seeded from the same generator. The methods (forward, training, evaluate, ...) are lnn.c's.
 */
#include "lcropnet.h"

#include <string.h>

/* An integer argument at idx (def when absent and def >= lo), checked against [lo, hi]. */
static int64_t optsize(lua_State *L, int idx, lua_Integer def, lua_Integer lo, lua_Integer hi)
{
    lua_Integer v = def >= lo ? luaL_optinteger(L, idx, def) : luaL_checkinteger(L, idx);
    if (v < lo || v > hi)
        luaL_argerror(L, idx, lua_pushfstring(L, "must be %I to %I", lo, hi));
    return (int64_t)v;
}

/* Field `name` of the table at idx: a number (the same on every axis) or an array of n numbers,
 * each in [lo, hi]; def when absent (required when def < lo). */
static void field_sizes(lua_State *L, int idx, const char *name, int n, lua_Integer def,
                        lua_Integer lo, lua_Integer hi, int64_t *out)
{
    int t = lua_getfield(L, idx, name);
    for (int i = 0; i < n; i++) {
        lua_Integer v = def;
        if (t == LUA_TTABLE) {
            if (lua_rawlen(L, -1) != (lua_Unsigned)n)
                luaL_error(L, "bad field '%s' (expected a number or %d numbers)", name, n);
            lua_rawgeti(L, -1, i + 1);
            int ok;
            v = lua_tointegerx(L, -1, &ok);
            lua_pop(L, 1);
            if (!ok)
                luaL_error(L, "bad field '%s' (entry %d is not an integer)", name, i + 1);
        } else if (t != LUA_TNIL) {
            int ok;
            v = lua_tointegerx(L, -1, &ok);
            if (!ok)
                luaL_error(L, "bad field '%s' (expected an integer or a table of %d)", name, n);
        } else if (def < lo) {
            luaL_error(L, "missing field '%s'", name);
        }
        if (v < lo || v > hi)
            luaL_error(L, "bad field '%s' (%I is outside %I to %I)", name, v, lo, hi);
        out[i] = (int64_t)v;
    }
    lua_pop(L, 1);
}

static bool field_bool(lua_State *L, int idx, const char *name, bool def)
{
    int t = lua_getfield(L, idx, name);
    bool v = t == LUA_TNIL ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Pushes a closed layer handle, fills it with the layer made by st's constructor. */
static lcn_layer *newlayer(lua_State *L)
{
    lcn_layer *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->l = NULL;
    luaL_setmetatable(L, LCN_LAYER);
    return u;
}

static int push_conv(lua_State *L, const cn_conv_spec *s)
{
    lcn_layer *u = newlayer(L);
    if (cn_conv_new(s, &u->l) || cn_layer_init(u->l, CN_INIT_HE_UNIFORM, 0.0f, lcn_rng(L)))
        return lcn_fail(L);
    return 1;
}

/* Table form of a convolution with `dims` spatial axes. */
static int conv_table(lua_State *L, int dims)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, dims, 1, 1, 1);
    /* "in" is a Lua keyword ({["in"] = 3}), so PyTorch's names are taken too */
    bool named = lua_getfield(L, 1, "in_channels") != LUA_TNIL;
    lua_pop(L, 1);
    field_sizes(L, 1, named ? "in_channels" : "in", 1, -1, 1, 1 << 24, &s.in);
    named = lua_getfield(L, 1, "out_channels") != LUA_TNIL;
    lua_pop(L, 1);
    field_sizes(L, 1, named ? "out_channels" : "out", 1, -1, 1, 1 << 24, &s.out);
    field_sizes(L, 1, "kernel", dims, -1, 1, 65536, s.kernel);
    field_sizes(L, 1, "stride", dims, 1, 1, 65536, s.stride);
    field_sizes(L, 1, "padding", dims, 0, 0, 65536, s.padding);
    field_sizes(L, 1, "dilation", dims, 1, 1, 65536, s.dilation);
    s.bias = field_bool(L, 1, "bias", true);
    s.floor = field_bool(L, 1, "floor", false);
    return push_conv(L, &s);
}

/* SpatialConvolution(nIn, nOut, kW, kH = kW, dW = 1, dH = 1, padW = 0, padH = 0) or {…};
 * SpatialDilatedConvolution(…, dilationW = 1, dilationH = 1). */
static int l_conv2d(lua_State *L)
{
    if (lua_istable(L, 1))
        return conv_table(L, 2);
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 1, 1, 1);
    s.in = optsize(L, 1, -1, 1, 1 << 24);
    s.out = optsize(L, 2, -1, 1, 1 << 24);
    s.kernel[1] = optsize(L, 3, -1, 1, 65536);
    s.kernel[0] = optsize(L, 4, s.kernel[1], 1, 65536);
    s.stride[1] = optsize(L, 5, 1, 1, 65536);
    s.stride[0] = optsize(L, 6, 1, 1, 65536);
    s.padding[1] = optsize(L, 7, 0, 0, 65536);
    s.padding[0] = optsize(L, 8, 0, 0, 65536);
    s.dilation[1] = optsize(L, 9, 1, 1, 65536);
    s.dilation[0] = optsize(L, 10, 1, 1, 65536);
    return push_conv(L, &s);
}

/* VolumetricConvolution(nIn, nOut, kT, kW, kH, dT = 1, dW = 1, dH = 1, padT = 0, padW = 0,
 * padH = 0) or {…}: T is the depth axis (the bands of a hyperspectral cube). */
static int l_conv3d(lua_State *L)
{
    if (lua_istable(L, 1))
        return conv_table(L, 3);
    cn_conv_spec s;
    cn_conv_spec_default(&s, 3, 1, 1, 1);
    s.in = optsize(L, 1, -1, 1, 1 << 24);
    s.out = optsize(L, 2, -1, 1, 1 << 24);
    static const int axis[3] = {0, 2, 1}; /* T, W, H → tensor axes D, W, H */
    for (int i = 0; i < 3; i++)
        s.kernel[axis[i]] = optsize(L, 3 + i, -1, 1, 65536);
    for (int i = 0; i < 3; i++)
        s.stride[axis[i]] = optsize(L, 6 + i, 1, 1, 65536);
    for (int i = 0; i < 3; i++)
        s.padding[axis[i]] = optsize(L, 9 + i, 0, 0, 65536);
    return push_conv(L, &s);
}

/* SpatialMaxPooling(kW, kH = kW, dW = kW, dH = kH, padW = 0, padH = 0) and
 * SpatialAveragePooling(kW, kH = kW, dW = 1, dH = 1, padW = 0, padH = 0) — Torch's defaults — or
 * the table form {kernel =, stride = kernel, padding = 0, floor = false}. The kind is the
 * closure's upvalue. */
static int l_pool(lua_State *L)
{
    cn_layer_kind kind = (cn_layer_kind)lua_tointeger(L, lua_upvalueindex(1));
    cn_pool_spec s = {.floor = false};
    if (lua_istable(L, 1)) {
        field_sizes(L, 1, "kernel", 2, -1, 1, 65536, s.kernel);
        field_sizes(L, 1, "stride", 2, 0, 0, 65536, s.stride);
        field_sizes(L, 1, "padding", 2, 0, 0, 65536, s.padding);
        s.floor = field_bool(L, 1, "floor", false);
    } else {
        s.kernel[1] = optsize(L, 1, -1, 1, 65536);
        s.kernel[0] = optsize(L, 2, s.kernel[1], 1, 65536);
        bool max = kind == CN_LAYER_MAX_POOL2D;
        s.stride[1] = optsize(L, 3, max ? s.kernel[1] : 1, 1, 65536);
        s.stride[0] = optsize(L, 4, max ? s.kernel[0] : 1, 1, 65536);
        s.padding[1] = optsize(L, 5, 0, 0, 65536);
        s.padding[0] = optsize(L, 6, 0, 0, 65536);
    }
    lcn_layer *u = newlayer(L);
    if (cn_pool_new(kind, &s, &u->l))
        return lcn_fail(L);
    return 1;
}

static int l_global_avg_pool(lua_State *L)
{
    lcn_layer *u = newlayer(L);
    if (cn_global_avg_pool_new(&u->l))
        return lcn_fail(L);
    return 1;
}

static int l_flatten(lua_State *L)
{
    lcn_layer *u = newlayer(L);
    if (cn_flatten_new(&u->l))
        return lcn_fail(L);
    return 1;
}

/* View(d1, d2, ...) or View{d1, d2, ...}: sizes of each sample, one of them may be -1. */
static int l_view(lua_State *L)
{
    int64_t dims[CN_MAX_DIMS];
    int n = 0;
    if (lua_istable(L, 1)) {
        n = (int)luaL_len(L, 1);
        luaL_argcheck(L, n >= 1 && n <= CN_MAX_DIMS - 1, 1, "expected 1 to 4 sizes");
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, 1, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            luaL_argcheck(L, ok && (v == -1 || (v >= 1 && v <= (1 << 24))), 1,
                          "sizes must be integers >= 1 or -1");
            dims[i] = (int64_t)v;
            lua_pop(L, 1);
        }
    } else {
        n = lua_gettop(L);
        luaL_argcheck(L, n >= 1 && n <= CN_MAX_DIMS - 1, 1, "expected 1 to 4 sizes");
        for (int i = 0; i < n; i++) {
            lua_Integer v = luaL_checkinteger(L, i + 1);
            luaL_argcheck(L, v == -1 || (v >= 1 && v <= (1 << 24)), i + 1,
                          "size must be >= 1 or -1");
            dims[i] = (int64_t)v;
        }
    }
    lcn_layer *u = newlayer(L);
    if (cn_view_new(n, dims, &u->l))
        return lcn_fail(L);
    return 1;
}

/* Dropout(p = 0.5) */
static int l_dropout(lua_State *L)
{
    lua_Number p = luaL_optnumber(L, 1, 0.5);
    luaL_argcheck(L, p >= 0 && p < 1, 1, "probability must be in [0, 1)");
    lcn_layer *u = newlayer(L);
    if (cn_dropout_new((float)p, cn_rng_next(lcn_rng(L)), &u->l))
        return lcn_fail(L);
    return 1;
}

/* BatchNormalization(n, eps = 1e-5, momentum = 0.1); the Spatial and Volumetric names are the
 * same layer (it normalises dimension 1 whatever follows). */
static int l_batchnorm(lua_State *L)
{
    int64_t n = optsize(L, 1, -1, 1, 1 << 24);
    lua_Number eps = luaL_optnumber(L, 2, 1e-5), m = luaL_optnumber(L, 3, 0.1);
    luaL_argcheck(L, eps > 0 && eps < 1e30, 2, "eps must be > 0 and finite");
    luaL_argcheck(L, m >= 0 && m <= 1, 3, "momentum must be in [0, 1]");
    lcn_layer *u = newlayer(L);
    if (cn_batchnorm_new(n, (float)eps, (float)m, &u->l))
        return lcn_fail(L);
    return 1;
}

/* ResidualBlock(inner [, projection]): y = inner(x) + (projection or identity)(x). */
static int l_residual(lua_State *L)
{
    cn_layer *inner = lcn_checklayer(L, 1);
    cn_layer *proj = lua_isnoneornil(L, 2) ? NULL : lcn_checklayer(L, 2);
    lcn_layer *u = newlayer(L);
    if (cn_residual_new(inner, proj, &u->l))
        return lcn_fail(L);
    return 1;
}

static const luaL_Reg layer_functions[] = {
    {"SpatialConvolution", l_conv2d},
    {"SpatialDilatedConvolution", l_conv2d},
    {"VolumetricConvolution", l_conv3d},
    {"GlobalAveragePooling", l_global_avg_pool},
    {"Flatten", l_flatten},
    {"View", l_view},
    {"Dropout", l_dropout},
    {"BatchNormalization", l_batchnorm},
    {"SpatialBatchNormalization", l_batchnorm},
    {"VolumetricBatchNormalization", l_batchnorm},
    {"ResidualBlock", l_residual},
    {NULL, NULL},
};

void lcn_open_layers(lua_State *L)
{
    luaL_setfuncs(L, layer_functions, 0);
    static const struct {
        const char *name;
        cn_layer_kind kind;
    } pools[] = {{"SpatialMaxPooling", CN_LAYER_MAX_POOL2D},
                 {"SpatialAveragePooling", CN_LAYER_AVG_POOL2D}};
    for (size_t i = 0; i < sizeof pools / sizeof *pools; i++) {
        lua_pushinteger(L, pools[i].kind);
        lua_pushcclosure(L, l_pool, 1);
        lua_setfield(L, -2, pools[i].name);
    }
}
