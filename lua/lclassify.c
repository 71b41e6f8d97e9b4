/*
 * lclassify.c — cn.classify{...}: tiled classification of a raster with a model, driven from
 * Lua with a progress callback, and interruptible by SIGINT / SIGTERM.
 *
 * The progress function runs under lua_pcall inside the C trampoline (as on_epoch in ltrain.c),
 * so an error in it never longjmps through cn_classify's frames, which own the tile buffers and
 * the temporary outputs: the trampoline cancels, cn_classify removes its temporaries and returns,
 * and the error is raised again from here. While classifying, SIGINT and SIGTERM set a flag the
 * trampoline reads (the previous handlers come back afterwards); a second signal before the
 * cancel lands takes the default action. The strings the run uses stay on this function's stack,
 * and a raster handle given as image is marked busy, so a callback cannot free what C uses.
 */
#include "lcropnet.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted; /* the signal number, 0 when none */

static void on_signal(int sig)
{
    if (interrupted) { /* asked twice: stop now, as without us */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    interrupted = sig;
}

typedef struct classify_ctx {
    lua_State *L;
    int fn;       /* stack index of the progress function, 0 if none */
    double fraction;
    int stop;     /* progress returned false */
    int failed;   /* progress raised; its error object is at the stack top */
} classify_ctx;

static int call_progress(lua_State *L)
{
    classify_ctx *c = lua_touserdata(L, 1);
    lua_pushvalue(L, 2);
    lua_pushnumber(L, c->fraction);
    lua_call(L, 1, 1);
    c->stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    return 0;
}

/* The cn_progress_fn: non-zero goes on. Stack space was reserved before cn_classify. */
static int trampoline(double fraction, const char *message, void *data)
{
    (void)message;
    classify_ctx *c = data;
    if (interrupted)
        return 0;
    if (!c->fn)
        return 1;
    lua_State *L = c->L;
    int base = lua_gettop(L);
    c->fraction = fraction;
    lua_pushcfunction(L, lcn_traceback);
    lua_pushcfunction(L, call_progress);
    lua_pushlightuserdata(L, c);
    lua_pushvalue(L, c->fn);
    if (lua_pcall(L, 2, 0, base + 1) != LUA_OK) {
        lua_remove(L, base + 1);
        c->failed = 1;
        return 0;
    }
    lua_settop(L, base);
    return !c->stop && !interrupted;
}

/* opts[name] as a string on the stack (or nil); raises unless a string or nil. */
static const char *string_opt(lua_State *L, const char *name)
{
    int t = lua_getfield(L, 1, name);
    if (t == LUA_TNIL)
        return NULL;
    if (t != LUA_TSTRING)
        luaL_error(L, "cn.classify: option '%s' must be a path (got %s)", name,
                   luaL_typename(L, -1));
    return lua_tostring(L, -1);
}

static int int_opt(lua_State *L, const char *name, lua_Integer lo, lua_Integer hi)
{
    int isnum;
    lua_getfield(L, 1, name);
    lua_Integer v = lua_isnil(L, -1) ? 0 : lua_tointegerx(L, -1, &isnum);
    if (!lua_isnil(L, -1) && (!isnum || v < lo || v > hi))
        luaL_error(L, "cn.classify: option '%s' must be an integer in %I..%I", name, lo, hi);
    lua_pop(L, 1);
    return (int)v;
}

/* The creation options table as a NULL-terminated array of copies, in a userdata on the stack. */
static const char *const *creation_options(lua_State *L)
{
    int t = lua_getfield(L, 1, "creation_options");
    if (t == LUA_TNIL)
        return NULL;
    if (t != LUA_TTABLE)
        luaL_error(L, "cn.classify: option 'creation_options' must be a table of \"NAME=VALUE\"");
    int tbl = lua_gettop(L);
    lua_Integer n = luaL_len(L, tbl);
    if (n < 0 || n > 1000)
        luaL_error(L, "cn.classify: too many creation options");
    size_t bytes = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, tbl, i) != LUA_TSTRING)
            luaL_error(L, "cn.classify: creation option %I must be a string \"NAME=VALUE\"", i);
        bytes += lua_rawlen(L, -1) + 1;
        lua_pop(L, 1);
    }
    size_t head = ((size_t)n + 1) * sizeof(char *);
    char **list = lua_newuserdatauv(L, head + bytes, 0);
    char *p = (char *)list + head;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, tbl, i);
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        memcpy(p, s, len + 1);
        list[i - 1] = p;
        p += len + 1;
        lua_pop(L, 1);
    }
    list[n] = NULL;
    return (const char *const *)list;
}

static void check_known(lua_State *L)
{
    static const char *const known[] = {"model", "image", "output", "confidence",
                                        "probabilities", "tile", "ram", "creation_options",
                                        "progress", NULL};
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        int i = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            while (known[i] && strcmp(known[i], lua_tostring(L, -2)) != 0)
                i++;
        if (lua_type(L, -2) != LUA_TSTRING || !known[i])
            luaL_error(L, "cn.classify: unknown option '%s'",
                       lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
        lua_pop(L, 1);
    }
}

/* nil, message (and "interrupted" as a third value after a signal). */
static int fail(lua_State *L, int sig)
{
    lua_pushnil(L);
    lua_pushstring(L, cn_last_error());
    if (!sig)
        return 2;
    lua_pushliteral(L, "interrupted");
    return 3;
}

/* cn.classify{model=, image=, output=, confidence=, probabilities=, tile=, ram=,
 * creation_options=, progress=} → true, or nil and "path: reason" */
static int l_classify(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    check_known(L);
    cn_classify_options o;
    memset(&o, 0, sizeof o);
    const char *output = string_opt(L, "output");
    if (!output)
        return luaL_error(L, "cn.classify: option 'output' is required");
    o.confidence = string_opt(L, "confidence");
    o.probabilities = string_opt(L, "probabilities");
    o.tile = int_opt(L, "tile", 1, 1 << 20);
    o.ram_mb = int_opt(L, "ram", 1, 1 << 30);
    o.creation_options = creation_options(L);

    /* the model: a handle from cn.load / cn.train, or a path loaded here */
    cn_model *model = NULL;
    int mt = lua_getfield(L, 1, "model");
    if (mt == LUA_TSTRING) {
        o.model_path = lua_tostring(L, -1);
        cn_model **m = lcn_newmodel(L); /* freed by the collector, whatever happens */
        cn_status st = cn_model_load(o.model_path, m);
        if (st == CN_ENOMEM)
            return lcn_fail(L);
        if (st)
            return fail(L, 0);
        model = *m;
    } else if (luaL_testudata(L, -1, LCN_MODEL)) {
        model = *(cn_model **)lua_touserdata(L, -1); /* every handle holds one pointer */
        if (!model)
            return luaL_error(L, "cn.classify: option 'model' is a closed model");
    } else {
        return luaL_error(L, "cn.classify: option 'model' must be a model or a model path "
                          "(got %s)", luaL_typename(L, -1));
    }

    /* the image: a path or an open raster */
    const char *image_path = NULL;
    lcn_raster *image = NULL;
    int it = lua_getfield(L, 1, "image");
    if (it == LUA_TSTRING) {
        image_path = lua_tostring(L, -1);
    } else if ((image = luaL_testudata(L, -1, LCN_RASTER)) != NULL) {
        if (!image->r)
            return luaL_error(L, "cn.classify: option 'image' is a closed raster");
    } else {
        return luaL_error(L, "cn.classify: option 'image' must be a raster or a path (got %s)",
                          luaL_typename(L, -1));
    }
    int pt = lua_getfield(L, 1, "progress");
    if (pt != LUA_TNIL && pt != LUA_TFUNCTION)
        return luaL_error(L, "cn.classify: option 'progress' must be a function");
    classify_ctx ctx = {L, pt == LUA_TFUNCTION ? lua_gettop(L) : 0, 0, 0, 0};
    o.progress = trampoline;
    o.progress_data = &ctx;
    luaL_checkstack(L, 8, "cn.classify");

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (image)
        image->busy++;
    cn_status st = image ? cn_classify_raster(image->r, model, output, &o)
                         : cn_classify(image_path, model, output, &o);
    if (image)
        image->busy--;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    int sig = interrupted;
    interrupted = 0;
    if (ctx.failed)
        return lua_error(L); /* the callback's error, left at the top by the trampoline */
    if (st == CN_ECANCELLED && sig) {
        cn_set_error(st, "%s: interrupted by %s", output, sig == SIGINT ? "SIGINT" : "SIGTERM");
        return fail(L, sig);
    }
    if (st == CN_ENOMEM)
        return lcn_fail(L);
    if (st)
        return fail(L, 0);
    lua_pushboolean(L, 1);
    return 1;
}

/* isatty(name) → whether "stdin", "stdout" or "stderr" is a terminal (for progress bars) */
static int l_isatty(lua_State *L)
{
    static const char *const names[] = {"stdin", "stdout", "stderr", NULL};
    int fd = luaL_checkoption(L, 1, NULL, names);
    lua_pushboolean(L, isatty(fd));
    return 1;
}

static const luaL_Reg classify_functions[] = {
    {"classify", l_classify},
    {"isatty", l_isatty},
    {NULL, NULL},
};

void lcn_open_classify(lua_State *L)
{
    luaL_setfuncs(L, classify_functions, 0);
}
