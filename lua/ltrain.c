/*
 * ltrain.c — cn.train: the mini-batch training loop of the core driven from Lua, with a Lua
 * on_epoch callback.
 *
 * The callback runs under lua_pcall inside the C trampoline, so a Lua error never longjmps
 * through cn_train's frames (which own the batch buffers). On error the trampoline leaves the
 * error object (with the callback's traceback) on the stack and asks cn_train to stop; once
 * cn_train has cleaned up and returned, the error is raised again from here. While training,
 * the net and the data are retained and the optimizer marked busy, so a callback that closes
 * them cannot free what the loop is using.
 */
#include "lcropnet.h"
#include "lopts.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct train_ctx {
    lua_State *L;
    int fn;                      /* stack index of on_epoch in l_train's frame, 0 if none */
    const cn_epoch_stats *stats; /* the epoch being reported */
    int stop;                    /* on_epoch returned false */
    int failed;                  /* on_epoch raised; its error object is at the stack top */
} train_ctx;

static void push_stats(lua_State *L, const cn_epoch_stats *s)
{
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, s->epoch);
    lua_setfield(L, -2, "epoch");
    lua_pushnumber(L, s->loss);
    lua_setfield(L, -2, "loss");
    if (!isnan(s->accuracy)) { /* MSE has no notion of accuracy */
        lua_pushnumber(L, s->accuracy);
        lua_setfield(L, -2, "accuracy");
    }
    lua_pushnumber(L, s->lr);
    lua_setfield(L, -2, "lr");
    lua_pushinteger(L, (lua_Integer)s->samples);
    lua_setfield(L, -2, "samples");
    lua_pushnumber(L, s->seconds);
    lua_setfield(L, -2, "seconds");
}

/* Runs protected with (ctx, on_epoch): calls on_epoch(epoch, stats); false asks to stop. */
static int call_on_epoch(lua_State *L)
{
    train_ctx *c = lua_touserdata(L, 1);
    lua_pushvalue(L, 2);
    lua_pushinteger(L, c->stats->epoch);
    push_stats(L, c->stats);
    lua_call(L, 2, 1);
    c->stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    return 0;
}

/* The cn_epoch_fn: pushes nothing that can fail outside the protected call (stack space was
 * reserved before cn_train). */
static int trampoline(const cn_epoch_stats *stats, void *user_data)
{
    train_ctx *c = user_data;
    c->stats = stats;
    /* c->fn is an index of l_train's frame: the callback is passed on as an argument */
    if (lcn_protected_call(c->L, call_on_epoch, c, c->fn) != LUA_OK) {
        c->failed = 1;
        return 1;
    }
    return c->stop;
}

/* Pushes opts[name] and returns its type. */
static int field(lua_State *L, const char *name)
{
    return lua_getfield(L, 1, name);
}

static void read_schedule(lua_State *L, cn_schedule *s)
{
    memset(s, 0, sizeof *s);
    int type = field(L, "schedule");
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (type != LUA_TTABLE)
        luaL_error(L, "cn.train: option 'schedule' must be a table {kind=, step=, gamma=}");
    int t = lua_absindex(L, -1);
    lua_getfield(L, t, "kind");
    const char *kind = lua_tostring(L, -1);
    if (kind && strcmp(kind, "step") == 0)
        s->kind = CN_SCHEDULE_STEP;
    else if (kind && strcmp(kind, "exp") == 0)
        s->kind = CN_SCHEDULE_EXP;
    else if (!(kind && strcmp(kind, "none") == 0))
        luaL_error(L, "cn.train: schedule kind must be \"step\", \"exp\" or \"none\"");
    lua_getfield(L, t, "gamma");
    s->gamma = lua_isnil(L, -1) ? 0.1 : lua_tonumber(L, -1);
    if (!(s->gamma > 0 && isfinite(s->gamma)))
        luaL_error(L, "cn.train: schedule gamma must be a number > 0");
    lua_getfield(L, t, "step");
    int ok = 1;
    lua_Integer step = lua_isnil(L, -1) ? 1 : lua_tointegerx(L, -1, &ok);
    if (!ok || step < 1 || step > INT_MAX)
        luaL_error(L, "cn.train: schedule step must be an integer >= 1");
    s->step_size = (int)step;
    lua_pop(L, 4);
}

/* Run protected by convert(): arg 1 to a tensor (table converted, layer buffer copied). */
static int to_input(lua_State *L)
{
    int top = lua_gettop(L);
    lcn_checkinput(L, 1);
    if (lua_gettop(L) == top)
        lua_pushvalue(L, 1);
    return 1;
}

/* Run protected by convert(): arg 1 to 0-based class ids, arg 2 the class count or 0. */
static int to_classes(lua_State *L)
{
    lcn_checkclasses(L, 1, (int64_t)lua_tointeger(L, 2));
    return 1;
}

/* Pushes the tensor made from the option at slot by fn; a conversion error is reported as one
 * of the option ("cn.train: option 'inputs': ragged table ..."), not of an argument number. */
static cn_tensor *convert(lua_State *L, lua_CFunction fn, int slot, int64_t classes,
                          const char *name)
{
    lua_pushcfunction(L, fn);
    lua_pushvalue(L, slot);
    lua_pushinteger(L, (lua_Integer)classes);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg == NULL)
            lua_error(L); /* a memory error: pass it on */
        const char *open = strstr(msg, " ("), *close = strrchr(msg, ')');
        if (strncmp(msg, "bad argument", 12) == 0 && open && close > open)
            lua_pushlstring(L, open + 2, (size_t)(close - open - 2));
        else
            lua_pushvalue(L, -1);
        luaL_error(L, "cn.train: option '%s': %s", name, lua_tostring(L, -1));
    }
    return lcn_checktensor(L, -1);
}

/* Checks that the option at slot is a handle of metatable tname. */
static void check_handle(lua_State *L, int slot, const char *tname, const char *name,
                         const char *what)
{
    if (!luaL_testudata(L, slot, tname))
        luaL_error(L, "cn.train: option '%s' must be %s (got %s)", name, what,
                   luaL_typename(L, slot));
}

/* The output width of a net when its last linear layer fixes it (0 when unknown). */
static int64_t output_width(cn_layer *l)
{
    cn_layer_kind k = cn_layer_kind_of(l);
    if (k == CN_LAYER_LINEAR)
        return cn_linear_out(l);
    for (size_t i = k == CN_LAYER_SEQUENTIAL ? cn_sequential_count(l) : 0; i-- > 0;) {
        int64_t w = output_width(cn_sequential_child(l, i));
        if (w)
            return w;
    }
    return 0;
}

/* cn.train{net=, inputs=, targets=, criterion=, optimizer=, epochs=, batch=, seed=, shuffle=,
 * schedule=, on_epoch=, augment=} -> model, stats of the last epoch (stats.stopped when on_epoch stopped
 * it). */
static int l_train(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    static const char *const known[] = {"net", "inputs", "targets", "criterion", "optimizer",
                                        "epochs", "batch", "seed", "shuffle", "schedule",
                                        "on_epoch", "augment", NULL};
    lcn_check_options(L, 1, known, "cn.train");
    cn_train_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int type;
    cfg.epochs = (int)lcn_int_opt(L, 1, "epochs", 10, 1, INT_MAX, "cn.train");
    cfg.batch = (int64_t)lcn_int_opt(L, 1, "batch", 32, 1, LUA_MAXINTEGER, "cn.train");
    cfg.seed = (uint64_t)lcn_int_opt(L, 1, "seed", 1, LUA_MININTEGER, LUA_MAXINTEGER, "cn.train");
    field(L, "shuffle");
    cfg.shuffle = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    read_schedule(L, &cfg.schedule);
    field(L, "augment"); /* true: flips and 90° rotations of patch batches */
    if (lua_toboolean(L, -1))
        cfg.augment = cn_patches_augment_batch;
    lua_pop(L, 1);

    if (field(L, "net") == LUA_TNIL) /* slot 2 */
        return luaL_error(L, "cn.train: option 'net' is required");
    check_handle(L, 2, LCN_LAYER, "net", "a layer");
    cn_layer *net = lcn_checklayer(L, 2);
    type = field(L, "criterion"); /* slot 3 */
    if (type == LUA_TNIL) {
        cfg.loss = CN_LOSS_SOFTMAX_CE;
    } else if (type == LUA_TSTRING) {
        int kind = cn_loss_kind_from_name(lua_tostring(L, 3));
        if (kind < 0)
            return luaL_error(L, "cn.train: unknown criterion '%s' (expected cross_entropy, mse, "
                              "bce or perceptron)", lua_tostring(L, 3));
        cfg.loss = (cn_loss_kind)kind;
    } else {
        check_handle(L, 3, LCN_CRITERION, "criterion", "a criterion or its name");
        cfg.loss = lcn_checkcriterionkind(L, 3);
    }
    if (field(L, "optimizer") == LUA_TNIL) { /* slot 4 */
        lua_pop(L, 1);
        lcn_pushdefaultoptim(L);
    }
    check_handle(L, 4, LCN_OPTIM, "optimizer", "an optimizer");
    lcn_optim *optud = lcn_checkoptimud(L, 4);
    if (field(L, "inputs") == LUA_TNIL) /* slot 5 */
        return luaL_error(L, "cn.train: option 'inputs' is required");
    if (field(L, "targets") == LUA_TNIL) /* slot 6 */
        return luaL_error(L, "cn.train: option 'targets' is required");
    type = field(L, "on_epoch"); /* slot 7 */
    if (type != LUA_TNIL && type != LUA_TFUNCTION)
        return luaL_error(L, "cn.train: option 'on_epoch' must be a function");
    cn_tensor *x = convert(L, to_input, 5, 0, "inputs"); /* slot 8 */
    cn_tensor *y = cfg.loss == CN_LOSS_SOFTMAX_CE
                       ? convert(L, to_classes, 6, output_width(net), "targets")
                       : convert(L, to_input, 6, 0, "targets"); /* slot 9 */

    train_ctx ctx = {L, type == LUA_TFUNCTION ? 7 : 0, NULL, 0, 0};
    if (ctx.fn) {
        cfg.on_epoch = trampoline;
        cfg.user_data = &ctx;
    }
    luaL_checkstack(L, 8, "cn.train");
    cn_model **model = lcn_newmodel(L); /* made before anything is retained: it may raise */
    cn_optim *opt = lcn_optim_begin(L, optud);
    cn_layer_retain(net);
    cn_tensor_retain(x);
    cn_tensor_retain(y);
    cn_epoch_stats stats;
    memset(&stats, 0, sizeof stats);
    cn_status st = cn_train(net, opt, x, y, &cfg, &stats);
    if (!ctx.failed && (!st || (st == CN_ECANCELLED && ctx.stop)))
        st = cn_model_new(net, model); /* before our reference goes: the callback may have
                                          closed the net's handle */
    lcn_optim_end(optud);
    cn_tensor_release(y);
    cn_tensor_release(x);
    cn_layer_release(net);
    if (ctx.failed)
        return lua_error(L); /* the callback's error, left at the top by the trampoline */
    if (st)
        return lcn_fail(L);
    push_stats(L, &stats);
    if (ctx.stop) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "stopped");
    }
    return 2;
}

static const luaL_Reg train_functions[] = {
    {"train", l_train},
    {NULL, NULL},
};

void lcn_open_train(lua_State *L)
{
    luaL_setfuncs(L, train_functions, 0);
}
