/*
 * lcriterion.c — criterions in Lua: CrossEntropyCriterion, MSECriterion, BCECriterion and
 * PerceptronCriterion, with Torch's forward(input, target) -> loss and backward -> gradInput.
 *
 * Class targets arrive 1-based, as in Torch, and are turned into the core's 0-based ids here, so
 * range errors name the ids the user wrote.
 */
#include "lcropnet.h"

#include <string.h>

static const char *const type_names[CN_LOSS_KIND_COUNT] = {
    "nn.CrossEntropyCriterion", "nn.MSECriterion", "nn.BCECriterion", "nn.PerceptronCriterion",
};

typedef struct lcn_criterion {
    cn_tensor *grad;  /* gradInput buffer, NULL when closed */
    cn_loss_kind kind;
} lcn_criterion;

static lcn_criterion *checkud(lua_State *L, int idx)
{
    lcn_criterion *c = luaL_checkudata(L, idx, LCN_CRITERION);
    if (c->grad == NULL)
        luaL_error(L, "attempt to use a closed criterion");
    return c;
}

cn_loss_kind lcn_checkcriterionkind(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        int kind = cn_loss_kind_from_name(lua_tostring(L, idx));
        if (kind < 0)
            luaL_argerror(L, idx, lua_pushfstring(L, "unknown criterion '%s' (expected "
                                                  "cross_entropy, mse, bce or perceptron)",
                                                  lua_tostring(L, idx)));
        return (cn_loss_kind)kind;
    }
    return checkud(L, idx)->kind;
}

/* The criterion constructors: one closure each, its kind in the upvalue. */
static int l_criterion(lua_State *L)
{
    cn_loss_kind kind = (cn_loss_kind)lua_tointeger(L, lua_upvalueindex(1));
    lcn_criterion *c = lua_newuserdatauv(L, sizeof *c, 0);
    c->grad = NULL;
    c->kind = kind;
    luaL_setmetatable(L, LCN_CRITERION);
    int64_t zero = 0;
    if (cn_tensor_new(1, &zero, &c->grad))
        return lcn_fail(L);
    return 1;
}

/* Converts input (arg 2) and target (arg 3); converted copies stay on the stack. */
static void check_args(lua_State *L, lcn_criterion *c, cn_tensor **pred, cn_tensor **target)
{
    *pred = lcn_checkinput(L, 2);
    if (c->kind == CN_LOSS_SOFTMAX_CE) {
        int nd = cn_tensor_ndim(*pred);
        *target = lcn_checkclasses(L, 3, nd <= 2 ? cn_tensor_dim(*pred, nd - 1) : 0);
    } else {
        *target = lcn_checkinput(L, 3);
    }
}

static int c_forward(lua_State *L)
{
    lcn_criterion *c = checkud(L, 1);
    cn_tensor *pred, *target;
    check_args(L, c, &pred, &target);
    double loss;
    if (cn_loss_forward(c->kind, pred, target, &loss))
        return lcn_fail(L);
    lua_pushnumber(L, loss);
    return 1;
}

static int c_backward(lua_State *L)
{
    lcn_criterion *c = checkud(L, 1);
    cn_tensor *pred, *target;
    check_args(L, c, &pred, &target);
    if (cn_loss_backward(c->kind, pred, target, c->grad))
        return lcn_fail(L);
    lcn_pushtensor(L, c->grad, LCN_LAYER_OWNED);
    return 1;
}

static int c_type(lua_State *L)
{
    lua_pushstring(L, type_names[checkud(L, 1)->kind]);
    return 1;
}

static int c_kind(lua_State *L)
{
    lua_pushstring(L, cn_loss_kind_name(checkud(L, 1)->kind));
    return 1;
}

static int c_tostring(lua_State *L)
{
    lcn_criterion *c = luaL_checkudata(L, 1, LCN_CRITERION);
    lua_pushstring(L, c->grad ? type_names[c->kind] : "criterion (closed)");
    return 1;
}

static int c_gc(lua_State *L)
{
    lcn_criterion *c = luaL_checkudata(L, 1, LCN_CRITERION);
    cn_tensor *t = c->grad;
    c->grad = NULL;
    cn_tensor_release(t);
    return 0;
}

static const luaL_Reg criterion_methods[] = {
    {"forward", c_forward}, {"backward", c_backward}, {"type", c_type},
    {"kind", c_kind},       {"close", c_gc},          {NULL, NULL},
};

static const luaL_Reg criterion_meta[] = {
    {"__tostring", c_tostring}, {"__gc", c_gc}, {"__close", c_gc}, {NULL, NULL},
};

void lcn_open_criterion(lua_State *L)
{
    lcn_createmeta(L, LCN_CRITERION, criterion_methods, criterion_meta, NULL);
    for (int k = 0; k < CN_LOSS_KIND_COUNT; k++) {
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_criterion, 1);
        lua_setfield(L, -2, type_names[k] + 3); /* "nn.MSECriterion" -> "MSECriterion" */
    }
}
