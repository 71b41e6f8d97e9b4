/*
 * lclassify.c — cn.classify{...}: tiled classification of a raster with a model, driven from
 * Lua with a progress callback, and interruptible by SIGINT / SIGTERM.
 *
 * The progress function and SIGINT / SIGTERM are handled as for every long call (lrun.c): an error
 * in the callback or a signal cancels cn_classify, which removes its temporaries, and the error
 * comes back to the caller from here. The strings the run uses stay on this function's stack,
 * and a raster handle given as image is marked busy, so a callback cannot free what C uses.
 */
#include "lcropnet.h"
#include "lopts.h"

#include <string.h>
#include <unistd.h>

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

/* The creation options table as a NULL-terminated array of copies, in a userdata on the stack. */
static const char *const *creation_options(lua_State *L)
{
    int t = lua_getfield(L, 1, "creation_options");
    if (t == LUA_TNIL)
        return NULL;
    if (t != LUA_TTABLE)
        luaL_error(L, "cn.classify: option 'creation_options' must be a table of \"NAME=VALUE\"");
    lua_Integer bad;
    const char *const *list = lcn_string_array(L, -1, &bad);
    if (!list && !bad)
        luaL_error(L, "cn.classify: too many creation options");
    if (!list)
        luaL_error(L, "cn.classify: creation option %I must be a string \"NAME=VALUE\"", bad);
    return list;
}

static const char *const known_options[] = {"model", "image", "output", "confidence",
                                            "probabilities", "tile", "ram", "creation_options",
                                            "progress", NULL};

/* cn.classify{model=, image=, output=, confidence=, probabilities=, tile=, ram=,
 * creation_options=, progress=} → true, or nil and "path: reason" */
static int l_classify(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lcn_check_options(L, 1, known_options, "cn.classify");
    cn_classify_options o;
    memset(&o, 0, sizeof o);
    const char *output = string_opt(L, "output");
    if (!output)
        return luaL_error(L, "cn.classify: option 'output' is required");
    o.confidence = string_opt(L, "confidence");
    o.probabilities = string_opt(L, "probabilities");
    o.tile = (int)lcn_int_opt(L, 1, "tile", 0, 1, 1 << 20, "cn.classify");
    o.ram_mb = (int)lcn_int_opt(L, 1, "ram", 0, 1, 1 << 30, "cn.classify");
    o.creation_options = creation_options(L);

    /* the model: a handle from cn.load / cn.train, or a path loaded here */
    cn_model *model = NULL;
    int mt = lua_getfield(L, 1, "model");
    if (mt == LUA_TSTRING) {
        o.model_path = lua_tostring(L, -1);
        cn_model **m = lcn_newmodel(L); /* freed by the collector, whatever happens */
        cn_status st = cn_model_load(o.model_path, m);
        if (st)
            return lcn_failresult(L, st);
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
    lcn_run run;
    lcn_run_begin(L, &run, lcn_progress_opt(L, 1, "cn.classify"));
    o.progress = lcn_run_progress;
    o.progress_data = &run;
    if (image)
        image->busy++;
    cn_status st = image ? cn_classify_raster(image->r, model, output, &o)
                         : cn_classify(image_path, model, output, &o);
    if (image)
        image->busy--;
    int n = lcn_run_end(L, &run, st, output);
    if (n)
        return n;
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
