/*
 * lnn.c — layers in Lua: Linear, the activations and Sequential, with Torch's module methods
 * (forward, backward, zeroGradParameters, parameters, updateParameters, ...).
 *
 * The convolutional-network constructors are in llayers.c; the methods here serve every kind.
 *
 * A layer userdata holds one reference to a refcounted cn_layer; a Sequential holds its children
 * in C, so a child handle dropped in Lua stays alive inside its container. Tensors handed out
 * (outputs, gradients, weights) are the layer's own, marked layer-owned so Lua cannot resize them
 * under the layer's feet.
 */
#include "lcropnet.h"

#include <stdio.h>
#include <string.h>

static const char *const type_names[CN_LAYER_KIND_COUNT] = {
    "nn.Linear", "nn.Sigmoid", "nn.Tanh", "nn.ReLU", "nn.LeakyReLU", "nn.ELU", "nn.Step",
    "nn.Sequential", "nn.SpatialConvolution", "nn.VolumetricConvolution", "nn.SpatialMaxPooling",
    "nn.SpatialAveragePooling", "nn.GlobalAveragePooling", "nn.Flatten", "nn.View", "nn.Dropout",
    "nn.BatchNormalization", "nn.ResidualBlock",
};

static lcn_layer *checkud(lua_State *L, int idx)
{
    lcn_layer *u = luaL_checkudata(L, idx, LCN_LAYER);
    if (u->l == NULL)
        luaL_error(L, "attempt to use a closed layer");
    return u;
}

cn_layer *lcn_checklayer(lua_State *L, int idx)
{
    return checkud(L, idx)->l;
}

static lcn_layer *newud(lua_State *L)
{
    lcn_layer *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->l = NULL;
    luaL_setmetatable(L, LCN_LAYER);
    return u;
}

void lcn_pushlayer(lua_State *L, cn_layer *l)
{
    newud(L)->l = cn_layer_retain(l);
}

static cn_layer *checkcontainer(lua_State *L, int idx)
{
    cn_layer *l = lcn_checklayer(L, idx);
    if (cn_layer_kind_of(l) != CN_LAYER_SEQUENTIAL)
        luaL_error(L, "%s is not a container", type_names[cn_layer_kind_of(l)]);
    return l;
}

/* --------------------------------------------------------------- constructors */

static int l_linear(lua_State *L)
{
    lua_Integer in = luaL_checkinteger(L, 1), out = luaL_checkinteger(L, 2);
    luaL_argcheck(L, in >= 1, 1, "input size must be >= 1");
    luaL_argcheck(L, out >= 1, 2, "output size must be >= 1");
    lcn_layer *u = newud(L);
    if (cn_linear_new((int64_t)in, (int64_t)out, &u->l) ||
        cn_layer_init(u->l, CN_INIT_XAVIER_UNIFORM, 0.0f, lcn_rng(L)))
        return lcn_fail(L);
    return 1;
}

/* The activation constructors (Sigmoid(), LeakyReLU([slope]), ...): one closure each, its kind
 * in the upvalue, so an argument error names the constructor the user called. */
static int l_activation(lua_State *L)
{
    cn_layer_kind kind = (cn_layer_kind)lua_tointeger(L, lua_upvalueindex(1));
    lua_Number def = kind == CN_LAYER_LEAKY_RELU ? 0.01 : 1.0;
    lua_Number param = luaL_optnumber(L, 1, def);
    luaL_argcheck(L, param == param && param > -1e30 && param < 1e30, 1, "must be a finite number");
    lcn_layer *u = newud(L);
    if (cn_activation_new(kind, (float)param, &u->l))
        return lcn_fail(L);
    return 1;
}

static int l_sequential(lua_State *L)
{
    lcn_layer *u = newud(L);
    if (cn_sequential_new(&u->l))
        return lcn_fail(L);
    return 1;
}

/* --------------------------------------------------------------- methods */

static int m_forward(lua_State *L)
{
    cn_layer *l = lcn_checklayer(L, 1);
    cn_tensor *x = lcn_checkinput(L, 2), *y;
    if (cn_layer_forward(l, x, &y))
        return lcn_fail(L);
    lcn_pushtensor(L, y, LCN_LAYER_OWNED);
    return 1;
}

static int m_backward(lua_State *L)
{
    cn_layer *l = lcn_checklayer(L, 1);
    cn_tensor *x = lcn_checkinput(L, 2), *g = lcn_checkinput(L, 3), *gx;
    if (cn_layer_backward(l, x, g, &gx))
        return lcn_fail(L);
    lcn_pushtensor(L, gx, LCN_LAYER_OWNED);
    return 1;
}

static int m_zero_grad(lua_State *L)
{
    cn_layer_zero_grad(lcn_checklayer(L, 1));
    lua_settop(L, 1);
    return 1;
}

/* Fills *params and *grads with scratch arrays (a userdata left on the stack); returns count. */
static size_t get_params(lua_State *L, cn_layer *l, cn_tensor ***params, cn_tensor ***grads)
{
    size_t n = cn_layer_params(l, NULL, NULL, 0);
    if (n > ((size_t)-1) / (2 * sizeof(cn_tensor *)))
        luaL_error(L, "too many parameters");
    cn_tensor **p = lua_newuserdatauv(L, (n ? n : 1) * 2 * sizeof *p, 0);
    *params = p;
    *grads = p + n;
    cn_layer_params(l, p, p + n, n);
    return n;
}

static int m_parameters(lua_State *L)
{
    cn_tensor **p, **g;
    size_t n = get_params(L, lcn_checklayer(L, 1), &p, &g);
    lua_createtable(L, (int)n, 0);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lcn_pushtensor(L, p[i], LCN_LAYER_OWNED);
        lua_rawseti(L, -3, (lua_Integer)i + 1);
        lcn_pushtensor(L, g[i], LCN_LAYER_OWNED);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 2;
}

/* init(kind [, std [, seed]]): std for "gaussian" (default 0.01); a seed uses its own generator
 * instead of the global one. */
static int m_init(lua_State *L)
{
    cn_layer *l = lcn_checklayer(L, 1);
    int kind = cn_init_kind_from_name(luaL_checkstring(L, 2));
    luaL_argcheck(L, kind >= 0, 2, "expected gaussian, xavier_uniform, xavier_normal, he_normal "
                                   "or he_uniform");
    lua_Number std = luaL_optnumber(L, 3, 0.01);
    luaL_argcheck(L, std >= 0 && std < 1e30, 3, "standard deviation must be >= 0 and finite");
    cn_rng local, *rng = lcn_rng(L);
    if (!lua_isnoneornil(L, 4)) {
        cn_rng_seed(&local, (uint64_t)luaL_checkinteger(L, 4));
        rng = &local;
    }
    if (cn_layer_init(l, (cn_init_kind)kind, (float)std, rng))
        return lcn_fail(L);
    lua_settop(L, 1);
    return 1;
}

/* Torch's plain update: every parameter x -= lr * dx. */
static int m_update(lua_State *L)
{
    cn_layer *l = lcn_checklayer(L, 1);
    lua_Number rate = luaL_checknumber(L, 2);
    luaL_argcheck(L, rate > -1e30 && rate < 1e30, 2, "learning rate must be finite");
    float lr = (float)rate;
    cn_tensor **p, **g;
    size_t n = get_params(L, l, &p, &g);
    for (size_t i = 0; i < n; i++) {
        float *x = cn_tensor_data(p[i]);
        const float *dx = cn_tensor_cdata(g[i]);
        for (int64_t j = 0, m = cn_tensor_numel(p[i]); j < m; j++)
            x[j] -= lr * dx[j];
    }
    lua_settop(L, 1);
    return 1;
}

/* Torch's m:training() and m:evaluate(): the mode of the layer and everything inside it. */
static int m_training(lua_State *L)
{
    cn_layer_set_training(lcn_checklayer(L, 1), true);
    lua_settop(L, 1);
    return 1;
}

static int m_evaluate(lua_State *L)
{
    cn_layer_set_training(lcn_checklayer(L, 1), false);
    lua_settop(L, 1);
    return 1;
}

static int m_type(lua_State *L)
{
    lua_pushstring(L, type_names[cn_layer_kind_of(lcn_checklayer(L, 1))]);
    return 1;
}

static int m_kind(lua_State *L)
{
    lua_pushstring(L, cn_layer_kind_name(cn_layer_kind_of(lcn_checklayer(L, 1))));
    return 1;
}

static int m_add(lua_State *L)
{
    cn_layer *seq = checkcontainer(L, 1);
    if (cn_sequential_add(seq, lcn_checklayer(L, 2)))
        return lcn_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int m_get(lua_State *L)
{
    cn_layer *seq = checkcontainer(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    lua_Integer n = (lua_Integer)cn_sequential_count(seq);
    luaL_argcheck(L, i >= 1 && i <= n, 2, lua_pushfstring(L, "index %I out of range 1..%I", i, n));
    lcn_pushlayer(L, cn_sequential_child(seq, (size_t)i - 1));
    return 1;
}

static int m_size(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)cn_sequential_count(checkcontainer(L, 1)));
    return 1;
}

/* "(a x b)" of n sizes into s. */
static void sizes(char *s, size_t size, const int64_t *v, int n, const char *sep)
{
    size_t used = 0;
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(s + used, size - used, "%s%lld", i ? sep : "", (long long)v[i]);
}

/* The constructor's arguments of a convolutional-network layer, "(204 -> 32, 1x1)". */
static void describe_conv(luaL_Buffer *b, cn_layer *l)
{
    char s[400], k[64], st[64], p[64], d[64];
    cn_conv_spec c;
    cn_pool_spec q;
    int64_t dims[CN_MAX_DIMS], f = 0;
    float eps = 0, mom = 0;
    s[0] = '\0';
    if (cn_conv_get_spec(l, &c)) {
        sizes(k, sizeof k, c.kernel, c.dims, "x");
        sizes(st, sizeof st, c.stride, c.dims, ",");
        sizes(p, sizeof p, c.padding, c.dims, ",");
        sizes(d, sizeof d, c.dilation, c.dims, ",");
        snprintf(s, sizeof s, "(%lld -> %lld, %s, stride %s, pad %s, dilation %s%s%s)",
                 (long long)c.in, (long long)c.out, k, st, p, d, c.bias ? "" : ", no bias",
                 c.floor ? ", floor" : "");
    } else if (cn_pool_get_spec(l, &q)) {
        sizes(k, sizeof k, q.kernel, 2, "x");
        sizes(st, sizeof st, q.stride, 2, ",");
        sizes(p, sizeof p, q.padding, 2, ",");
        snprintf(s, sizeof s, "(%s, stride %s, pad %s%s)", k, st, p, q.floor ? ", floor" : "");
    } else if (cn_layer_kind_of(l) == CN_LAYER_VIEW) {
        int n = cn_view_get_shape(l, dims);
        sizes(k, sizeof k, dims, n, ", ");
        snprintf(s, sizeof s, "(%s)", k);
    } else if (cn_layer_kind_of(l) == CN_LAYER_DROPOUT) {
        snprintf(s, sizeof s, "(%g)", (double)cn_layer_param(l));
    } else if (cn_batchnorm_get(l, &f, &eps, &mom)) {
        snprintf(s, sizeof s, "(%lld, eps %g, momentum %g)", (long long)f, (double)eps,
                 (double)mom);
    }
    luaL_addstring(b, s);
}

static void describe(luaL_Buffer *b, cn_layer *l, int depth)
{
    char s[128];
    cn_layer_kind k = cn_layer_kind_of(l);
    luaL_addstring(b, type_names[k]);
    if (k == CN_LAYER_LINEAR) {
        snprintf(s, sizeof s, "(%lld -> %lld)", (long long)cn_linear_in(l),
                 (long long)cn_linear_out(l));
        luaL_addstring(b, s);
    } else if (k == CN_LAYER_LEAKY_RELU || k == CN_LAYER_ELU) {
        snprintf(s, sizeof s, "(%g)", (double)cn_layer_param(l));
        luaL_addstring(b, s);
    } else if (k == CN_LAYER_SEQUENTIAL || k == CN_LAYER_RESIDUAL) {
        cn_layer *c[2];
        size_t n = k == CN_LAYER_SEQUENTIAL ? cn_sequential_count(l) : cn_layer_children(l, c, 2);
        luaL_addstring(b, " {");
        for (size_t i = 0; i < n; i++) {
            if (k == CN_LAYER_SEQUENTIAL)
                snprintf(s, sizeof s, "\n%*s(%zu): ", 2 * (depth + 1), "", i + 1);
            else
                snprintf(s, sizeof s, "\n%*s%s: ", 2 * (depth + 1), "",
                         i ? "projection" : "inner");
            luaL_addstring(b, s);
            describe(b, k == CN_LAYER_SEQUENTIAL ? cn_sequential_child(l, i) : c[i], depth + 1);
        }
        snprintf(s, sizeof s, "\n%*s}", 2 * depth, "");
        luaL_addstring(b, s);
    } else {
        describe_conv(b, l);
    }
}

static int m_tostring(lua_State *L)
{
    lcn_layer *u = luaL_checkudata(L, 1, LCN_LAYER);
    if (u->l == NULL) {
        lua_pushliteral(L, "layer (closed)");
        return 1;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    describe(&b, u->l, 0);
    luaL_pushresult(&b);
    return 1;
}

static int m_eq(lua_State *L)
{
    lcn_layer *a = luaL_testudata(L, 1, LCN_LAYER), *b = luaL_testudata(L, 2, LCN_LAYER);
    lua_pushboolean(L, a && b && a->l && a->l == b->l);
    return 1;
}

static int m_gc(lua_State *L)
{
    lcn_layer *u = luaL_checkudata(L, 1, LCN_LAYER);
    cn_layer *l = u->l;
    u->l = NULL;
    cn_layer_release(l);
    return 0;
}

/* __index: the methods, then the fields of Torch's modules: train (the mode); weight, bias,
 * gradWeight and gradBias of layers with parameters; running_mean and running_var of batch
 * normalisation; inner and projection of a residual block. */
static int m_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    const char *key = lua_tostring(L, 2);
    cn_layer *l = lcn_checklayer(L, 1);
    if (key == NULL)
        return 0;
    cn_layer_kind kind = cn_layer_kind_of(l);
    if (strcmp(key, "train") == 0) {
        lua_pushboolean(L, cn_layer_is_training(l));
        return 1;
    }
    if (kind == CN_LAYER_BATCHNORM && strncmp(key, "running_", 8) == 0) {
        cn_tensor *t = strcmp(key + 8, "mean") == 0 ? cn_batchnorm_running_mean(l)
                       : strcmp(key + 8, "var") == 0 ? cn_batchnorm_running_var(l)
                                                     : NULL;
        if (t)
            lcn_pushtensor(L, t, LCN_LAYER_OWNED);
        return t ? 1 : 0;
    }
    if (kind == CN_LAYER_RESIDUAL &&
        (strcmp(key, "inner") == 0 || strcmp(key, "projection") == 0)) {
        cn_layer *c = key[0] == 'i' ? cn_residual_inner(l) : cn_residual_projection(l);
        if (c)
            lcn_pushlayer(L, c);
        return c ? 1 : 0;
    }
    if (kind != CN_LAYER_LINEAR && kind != CN_LAYER_CONV2D && kind != CN_LAYER_CONV3D &&
        kind != CN_LAYER_BATCHNORM)
        return 0;
    static const char *const fields[] = {"weight", "bias", "gradWeight", "gradBias"};
    cn_tensor *p[2] = {NULL, NULL}, *g[2] = {NULL, NULL};
    cn_layer_params(l, p, g, 2);
    for (int i = 0; i < 4; i++)
        if (strcmp(key, fields[i]) == 0) {
            cn_tensor *t = i < 2 ? p[i] : g[i - 2];
            if (t)
                lcn_pushtensor(L, t, LCN_LAYER_OWNED);
            return t ? 1 : 0;
        }
    return 0;
}

static const luaL_Reg layer_methods[] = {
    {"forward", m_forward},
    {"backward", m_backward},
    {"zeroGradParameters", m_zero_grad},
    {"parameters", m_parameters},
    {"init", m_init},
    {"updateParameters", m_update},
    {"training", m_training},
    {"evaluate", m_evaluate},
    {"type", m_type},
    {"kind", m_kind},
    {"add", m_add},
    {"get", m_get},
    {"size", m_size},
    {"close", m_gc},
    {NULL, NULL},
};

static const luaL_Reg layer_meta[] = {
    {"__len", m_size}, {"__tostring", m_tostring}, {"__eq", m_eq},
    {"__gc", m_gc},    {"__close", m_gc},          {NULL, NULL},
};

static const luaL_Reg nn_functions[] = {
    {"Linear", l_linear},
    {"Sequential", l_sequential},
    {NULL, NULL},
};

void lcn_open_nn(lua_State *L)
{
    lcn_createmeta(L, LCN_LAYER, layer_methods, layer_meta, m_index);
    luaL_setfuncs(L, nn_functions, 0);
    for (int k = CN_LAYER_SIGMOID; k <= CN_LAYER_STEP; k++) {
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_activation, 1);
        lua_setfield(L, -2, type_names[k] + 3); /* "nn.ReLU" -> "ReLU" */
    }
}
