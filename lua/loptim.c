/*
 * loptim.c — optimizers in Lua: optim(kind, config) for sgd, momentum, nesterov, rmsprop and
 * adam, with Torch's configuration keys (plus the short aliases lr and weight_decay).
 *
 * "momentum" and "nesterov" are SGD with Torch's usual settings filled in (momentum 0.9,
 * dampening 0), so a config table reads the same as in Torch. An unknown key or one that does not
 * apply to the kind is an error naming it: a typo must not silently train with a default.
 */
#include "lcropnet.h"

#include <math.h>
#include <string.h>

struct lcn_optim {
    cn_optim *o; /* NULL when closed */
    int busy;    /* inside cn.train: closing it would pull the state from under the loop */
};

enum { K_SGD = 1, K_RMS = 2, K_ADAM = 4, K_ALL = 7 };

static const struct key {
    const char *name;
    int kinds;   /* the kinds it applies to */
    size_t off;  /* offset of the double in cn_optim_config; (size_t)-1 for nesterov */
} keys[] = {
    {"learningRate", K_ALL, offsetof(cn_optim_config, lr)},
    {"lr", K_ALL, offsetof(cn_optim_config, lr)},
    {"learningRateDecay", K_SGD, offsetof(cn_optim_config, lr_decay)},
    {"weightDecay", K_ALL, offsetof(cn_optim_config, weight_decay)},
    {"weight_decay", K_ALL, offsetof(cn_optim_config, weight_decay)},
    {"momentum", K_SGD, offsetof(cn_optim_config, momentum)},
    {"dampening", K_SGD, offsetof(cn_optim_config, dampening)},
    {"nesterov", K_SGD, (size_t)-1},
    {"alpha", K_RMS, offsetof(cn_optim_config, alpha)},
    {"epsilon", K_RMS | K_ADAM, offsetof(cn_optim_config, eps)},
    {"beta1", K_ADAM, offsetof(cn_optim_config, beta1)},
    {"beta2", K_ADAM, offsetof(cn_optim_config, beta2)},
};

static lcn_optim *checkud(lua_State *L, int idx)
{
    lcn_optim *u = luaL_checkudata(L, idx, LCN_OPTIM);
    if (u->o == NULL)
        luaL_error(L, "attempt to use a closed optimizer");
    return u;
}

lcn_optim *lcn_checkoptimud(lua_State *L, int idx)
{
    return checkud(L, idx);
}

cn_optim *lcn_optim_begin(lua_State *L, lcn_optim *u)
{
    if (u->busy)
        luaL_error(L, "the optimizer is already in use by cn.train");
    u->busy = 1;
    return u->o;
}

void lcn_optim_end(lcn_optim *u)
{
    u->busy = 0;
}

/* Reads the options table at idx over the defaults already in *c. */
static void read_config(lua_State *L, int idx, const char *name, int kind, cn_optim_config *c)
{
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: options must be given by name (key of type %s)", name,
                       luaL_typename(L, -2));
        const char *key = lua_tostring(L, -2);
        size_t i = 0;
        while (i < sizeof keys / sizeof *keys && strcmp(keys[i].name, key) != 0)
            i++;
        if (i == sizeof keys / sizeof *keys)
            luaL_error(L, "%s: unknown option '%s'", name, key);
        if (!(keys[i].kinds & kind))
            luaL_error(L, "%s: option '%s' does not apply to this optimizer", name, key);
        if (keys[i].off == (size_t)-1) {
            if (!lua_isboolean(L, -1))
                luaL_error(L, "%s: option '%s' must be a boolean", name, key);
            c->nesterov = lua_toboolean(L, -1);
        } else {
            if (lua_type(L, -1) != LUA_TNUMBER)
                luaL_error(L, "%s: option '%s' must be a number", name, key);
            *(double *)((char *)c + keys[i].off) = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
}

static const char *const kinds[] = {"sgd", "momentum", "nesterov", "rmsprop", "adam", NULL};

/* The constructors sgd([config]), momentum, nesterov, rmsprop and adam: one closure each, the
 * index into kinds in the upvalue. */
static int l_optim(lua_State *L)
{
    int k = (int)lua_tointeger(L, lua_upvalueindex(1));
    cn_optim_kind kind = k <= 2 ? CN_OPTIM_SGD : k == 3 ? CN_OPTIM_RMSPROP : CN_OPTIM_ADAM;
    cn_optim_config c;
    cn_optim_defaults(kind, &c);
    if (k == 1 || k == 2) {
        c.momentum = 0.9;
        c.dampening = 0;
        c.nesterov = k == 2;
    }
    read_config(L, 1, kinds[k], k <= 2 ? K_SGD : k == 3 ? K_RMS : K_ADAM, &c);
    lua_settop(L, 1);
    lcn_optim *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->o = NULL;
    u->busy = 0;
    luaL_setmetatable(L, LCN_OPTIM);
    if (cn_optim_new(kind, &c, &u->o))
        return lcn_fail(L);
    return 1;
}

cn_optim *lcn_pushdefaultoptim(lua_State *L)
{
    cn_optim_config c;
    cn_optim_defaults(CN_OPTIM_ADAM, &c);
    lcn_optim *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->o = NULL;
    u->busy = 0;
    luaL_setmetatable(L, LCN_OPTIM);
    if (cn_optim_new(CN_OPTIM_ADAM, &c, &u->o))
        lcn_fail(L);
    return u->o;
}

static int o_step(lua_State *L)
{
    lcn_optim *u = checkud(L, 1);
    if (cn_optim_step(u->o, lcn_checklayer(L, 2)))
        return lcn_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int o_config(lua_State *L)
{
    lcn_optim *u = checkud(L, 1);
    const cn_optim_config *c = cn_optim_get_config(u->o);
    cn_optim_kind kind = cn_optim_kind_of(u->o);
    lua_newtable(L);
    lua_pushnumber(L, cn_optim_get_lr(u->o));
    lua_setfield(L, -2, "learningRate");
    lua_pushnumber(L, c->weight_decay);
    lua_setfield(L, -2, "weightDecay");
    if (kind == CN_OPTIM_SGD) {
        lua_pushnumber(L, c->lr_decay);
        lua_setfield(L, -2, "learningRateDecay");
        lua_pushnumber(L, c->momentum);
        lua_setfield(L, -2, "momentum");
        lua_pushnumber(L, c->dampening < 0 ? c->momentum : c->dampening);
        lua_setfield(L, -2, "dampening");
        lua_pushboolean(L, c->nesterov);
        lua_setfield(L, -2, "nesterov");
    } else {
        lua_pushnumber(L, c->eps);
        lua_setfield(L, -2, "epsilon");
    }
    if (kind == CN_OPTIM_RMSPROP) {
        lua_pushnumber(L, c->alpha);
        lua_setfield(L, -2, "alpha");
    }
    if (kind == CN_OPTIM_ADAM) {
        lua_pushnumber(L, c->beta1);
        lua_setfield(L, -2, "beta1");
        lua_pushnumber(L, c->beta2);
        lua_setfield(L, -2, "beta2");
    }
    return 1;
}

/* learningRate() -> current base rate; learningRate(lr) sets it. */
static int o_learning_rate(lua_State *L)
{
    lcn_optim *u = checkud(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        lua_Number lr = luaL_checknumber(L, 2);
        luaL_argcheck(L, lr >= 0 && isfinite(lr), 2, "learning rate must be finite and >= 0");
        cn_optim_set_lr(u->o, lr);
    }
    lua_pushnumber(L, cn_optim_get_lr(u->o));
    return 1;
}

static int o_kind(lua_State *L)
{
    lua_pushstring(L, cn_optim_kind_name(cn_optim_kind_of(checkud(L, 1)->o)));
    return 1;
}

static int o_tostring(lua_State *L)
{
    lcn_optim *u = luaL_checkudata(L, 1, LCN_OPTIM);
    if (u->o == NULL)
        lua_pushliteral(L, "optimizer (closed)");
    else
        lua_pushfstring(L, "optim.%s{learningRate=%f}", cn_optim_kind_name(cn_optim_kind_of(u->o)),
                        (lua_Number)cn_optim_get_lr(u->o));
    return 1;
}

static int o_close(lua_State *L)
{
    lcn_optim *u = luaL_checkudata(L, 1, LCN_OPTIM);
    if (u->busy)
        return luaL_error(L, "cannot close an optimizer while cn.train uses it");
    cn_optim *o = u->o;
    u->o = NULL;
    cn_optim_free(o);
    return 0;
}

/* Never raises: a collected handle cannot be busy (cn.train keeps it on its stack). */
static int o_gc(lua_State *L)
{
    lcn_optim *u = luaL_checkudata(L, 1, LCN_OPTIM);
    if (!u->busy) {
        cn_optim *o = u->o;
        u->o = NULL;
        cn_optim_free(o);
    }
    return 0;
}

static const luaL_Reg optim_methods[] = {
    {"step", o_step}, {"config", o_config}, {"learningRate", o_learning_rate},
    {"kind", o_kind}, {"close", o_close},   {NULL, NULL},
};

static const luaL_Reg optim_meta[] = {
    {"__tostring", o_tostring}, {"__gc", o_gc}, {"__close", o_close}, {NULL, NULL},
};

void lcn_open_optim(lua_State *L)
{
    lcn_createmeta(L, LCN_OPTIM, optim_methods, optim_meta, NULL);
    for (int k = 0; kinds[k]; k++) {
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_optim, 1);
        lua_setfield(L, -2, kinds[k]);
    }
}
