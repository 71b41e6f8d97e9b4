/*
 * pixfn_lua.c — the "cropnet_lua" pixel function: a Lua 5.4 function run over a VRT band's
 * sources (indices such as NDVI, masks, custom rules, a cropnet network in Lua).
 *
 *   <PixelFunctionType>cropnet_lua</PixelFunctionType>
 *   <PixelFunctionArguments script="samples/ndvi.lua" function="ndvi" nodata="255"/>
 *
 * Arguments:
 *   script=PATH   a Lua file (a relative path is taken from the working directory), or
 *   code=TEXT     the Lua chunk itself (refused unless CROPNET_LUA_ENABLE=YES, see below);
 *   function=NAME the function to call: a global the chunk defines, or a field of the table it
 *                 returns; without it the chunk must return the function;
 *   mode=pixel    (default) f(v1, ..., vn) per pixel, vi the sources' values as numbers; returns
 *                 a number, or nil for dstnodata;
 *   mode=buffer   f(x, info) per block: x a cropnet tensor of width·height rows (row-major
 *                 pixels) × n columns (the sources), info = {width =, height =, sources =};
 *                 returns a tensor of width·height values;
 *   nodata=       the sources' nodata values (sources.c); invalid pixels get dstnodata and, in
 *                 pixel mode, are not passed to the function;
 *   dstnodata=    the value for invalid pixels and nil results (default 0).
 *
 * The chunk runs once per thread's Lua state, in its own environment (globals fall through to
 * _G), and the function is kept in the state's registry, so two VRT bands with different
 * scripts never see each other's globals. Anything that may raise runs under lua_pcall: a
 * script error, a wrong result or a memory error becomes "cropnet_lua: <message>".
 *
 * Like GDAL's Python pixel functions, code in a VRT is code the user did not necessarily read:
 * the configuration option CROPNET_LUA_ENABLE (environment or --config) is SCRIPTS by default
 * (script= files run, inline code= is refused), YES (both run) or NO (neither).
 */
#include "plugin.h"

#include "lcropnet.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <lualib.h>

#include <stdlib.h>
#include <string.h>

#define WHO "cropnet_lua"
#define FUNCTIONS_KEY "cropnet.plugin.functions" /* registry: key → function */
#define CHUNK 1024                               /* pixels converted at a time */

/* What one call needs, handed to the protected functions. */
typedef struct call {
    const char *kind;      /* "script" or "code" */
    const char *text;      /* the path or the code */
    const char *fname;     /* function=, or NULL */
    const char *source;    /* how messages name the script: its path, or "code" */
    cnp_sources src;
    cnp_output out;
    double dstnodata;
    double *vals;          /* CHUNK × nsources (pixel mode) */
    uint8_t *valid;        /* CHUNK (pixel mode) or width·height (buffer mode) */
    double results[CHUNK];
} call;

/* Pushes the function for c, loading and running the chunk on first use in this state. */
static void push_function(lua_State *L, call *c)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, FUNCTIONS_KEY);
    lua_pushfstring(L, "%s\n%s\n%s", c->kind, c->text, c->fname ? c->fname : "");
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TFUNCTION)
        return;
    lua_pop(L, 1);
    int rc = strcmp(c->kind, "script") == 0
                 ? luaL_loadfilex(L, c->text, "t")
                 : luaL_loadbufferx(L, c->text, strlen(c->text), "=code", "t");
    if (rc != LUA_OK)
        lua_error(L);
    lua_newtable(L); /* the chunk's own _ENV, falling through to _G */
    lua_createtable(L, 0, 1);
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setupvalue(L, -3, 1); /* a main chunk's first upvalue is _ENV */
    lua_insert(L, -2);        /* env, chunk */
    lua_call(L, 0, 1);        /* env, result */
    int reg = lua_absindex(L, -4); /* registry table, key, env, result */
    if (c->fname) {
        bool found = false;
        if (lua_type(L, -1) == LUA_TTABLE) {
            found = lua_getfield(L, -1, c->fname) == LUA_TFUNCTION;
            if (!found)
                lua_pop(L, 1);
        }
        if (!found && lua_getfield(L, reg + 2, c->fname) != LUA_TFUNCTION)
            luaL_error(L, "%s: defines no function '%s' (a global, or a field of the table the "
                       "script returns)", c->source, c->fname);
    } else if (lua_type(L, -1) != LUA_TFUNCTION) {
        luaL_error(L, "%s: returns no function: name one with function=NAME, or end the script "
                   "with `return function(...) ... end`", c->source);
    } else {
        lua_pushvalue(L, -1);
    }
    lua_pushvalue(L, reg + 1); /* registry[key] = function, which stays on top */
    lua_pushvalue(L, -2);
    lua_rawset(L, reg);
}

static const char *function_name(const call *c) { return c->fname ? c->fname : "(returned)"; }

/* mode=pixel: f(v1, ..., vn) for every valid pixel. */
static int run_pixels(lua_State *L)
{
    call *c = lua_touserdata(L, 1);
    push_function(L, c);
    int fn = lua_gettop(L), n = c->src.nsources;
    luaL_checkstack(L, n + 2, "too many sources");
    int64_t npix = (int64_t)c->src.width * c->src.height;
    for (int64_t first = 0; first < npix; first += CHUNK) {
        int64_t count = npix - first < CHUNK ? npix - first : CHUNK;
        memset(c->valid, 1, (size_t)count);
        for (int s = 0; s < n; s++)
            cnp_sources_read_double(&c->src, s, first, count, c->vals + s, n, c->valid);
        for (int64_t i = 0; i < count; i++) {
            if (!c->valid[i]) {
                c->results[i] = c->dstnodata;
                continue;
            }
            lua_pushvalue(L, fn);
            for (int s = 0; s < n; s++)
                lua_pushnumber(L, c->vals[i * n + s]);
            lua_call(L, n, 1);
            int t = lua_type(L, -1);
            if (t == LUA_TNUMBER)
                c->results[i] = lua_tonumber(L, -1);
            else if (t == LUA_TNIL)
                c->results[i] = c->dstnodata;
            else
                luaL_error(L, "%s: function '%s' returned a %s for the pixel at column %d, line "
                           "%d of the block; expected a number (or nil for nodata)", c->source,
                           function_name(c), lua_typename(L, t),
                           (int)((first + i) % c->src.width), (int)((first + i) / c->src.width));
            lua_pop(L, 1);
        }
        cnp_output_write(&c->out, first, count, c->results);
    }
    return 0;
}

/* mode=buffer: f(x, info) once for the block. */
static int run_buffer(lua_State *L)
{
    call *c = lua_touserdata(L, 1);
    push_function(L, c);
    int n = c->src.nsources;
    int64_t npix = (int64_t)c->src.width * c->src.height;
    int64_t dims[2] = {npix, n};
    cn_tensor *x = lcn_pushnewtensor(L, 2, dims);
    memset(c->valid, 1, (size_t)npix);
    for (int s = 0; s < n; s++)
        cnp_sources_read(&c->src, s, 0, npix, cn_tensor_data(x) + s, n, c->valid);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, c->src.width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, c->src.height);
    lua_setfield(L, -2, "height");
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "sources");
    lua_call(L, 2, 1);
    lcn_tensor *u = lcn_totensorud(L, -1);
    if (!u || !u->t)
        luaL_error(L, "%s: function '%s' returned a %s; expected a tensor of %I values (one per "
                   "pixel of the block)", c->source, function_name(c),
                   u ? "closed tensor" : luaL_typename(L, -1), (lua_Integer)npix);
    if (cn_tensor_numel(u->t) != npix) {
        char shape[64];
        luaL_error(L, "%s: function '%s' returned a tensor %s; expected %I values (one per pixel "
                   "of the %d x %d block)", c->source, function_name(c),
                   cn_tensor_shape_str(u->t, shape, sizeof shape), (lua_Integer)npix,
                   c->src.width, c->src.height);
    }
    const float *y = cn_tensor_cdata(u->t);
    for (int64_t first = 0; first < npix; first += CHUNK) {
        int64_t count = npix - first < CHUNK ? npix - first : CHUNK;
        for (int64_t i = 0; i < count; i++)
            c->results[i] = c->valid[first + i] ? (double)y[first + i] : c->dstnodata;
        cnp_output_write(&c->out, first, count, c->results);
    }
    return 0;
}

/* Reads the arguments into c; the policy on inline code is applied here. */
static cn_status parse_args(call *c, CSLConstList args, bool *buffer)
{
    const char *script = CSLFetchNameValue(args, "script");
    const char *code = CSLFetchNameValue(args, "code");
    const char *mode = CSLFetchNameValue(args, "mode");
    const char *dst = CSLFetchNameValue(args, "dstnodata");
    if (!script == !code)
        return cn_set_error(CN_EINVAL, "give script=PATH or code=TEXT (one of them) in the "
                            "band's <PixelFunctionArguments>");
    const char *policy = CPLGetConfigOption("CROPNET_LUA_ENABLE", "SCRIPTS");
    bool yes = EQUAL(policy, "YES") || EQUAL(policy, "ON") || EQUAL(policy, "TRUE");
    if (!yes && !EQUAL(policy, "SCRIPTS") && !EQUAL(policy, "NO") && !EQUAL(policy, "OFF") &&
        !EQUAL(policy, "FALSE"))
        return cn_set_error(CN_EINVAL, "CROPNET_LUA_ENABLE=%s: expected YES, SCRIPTS or NO",
                            policy);
    if ((code && !yes) || (script && !yes && !EQUAL(policy, "SCRIPTS")))
        return cn_set_error(CN_EINVAL, "%s: running Lua %s from a VRT is disabled by "
                            "CROPNET_LUA_ENABLE=%s; if you trust this VRT, set the configuration "
                            "option CROPNET_LUA_ENABLE=YES (e.g. --config CROPNET_LUA_ENABLE YES)",
                            script ? script : "code=", script ? "scripts" : "code given inline",
                            policy);
    c->kind = script ? "script" : "code";
    c->text = script ? script : code;
    c->source = script ? script : "code";
    c->fname = CSLFetchNameValue(args, "function");
    if (c->fname && !*c->fname)
        c->fname = NULL;
    *buffer = false;
    if (mode && strcmp(mode, "buffer") == 0)
        *buffer = true;
    else if (mode && strcmp(mode, "pixel") != 0)
        return cn_set_error(CN_EINVAL, "mode=%s: expected pixel or buffer", mode);
    c->dstnodata = 0;
    if (dst && !cnp_parse_double(dst, &c->dstnodata))
        return cn_set_error(CN_EINVAL, "dstnodata=%s: not a number", dst);
    return CN_OK;
}

CPLErr cnp_pixfn_lua(void **sources, int nsources, void *data, int width, int height,
                     GDALDataType src_type, GDALDataType buf_type, int pixel_space,
                     int line_space, CSLConstList args)
{
    call *c = calloc(1, sizeof *c);
    if (!c) {
        cn_set_error(CN_ENOMEM, "out of memory");
        return cnp_fail(WHO);
    }
    bool buffer = false;
    lua_State *L;
    int64_t npix = (int64_t)width * height;
    size_t nvals = nsources > 0 ? (size_t)nsources * CHUNK : 1;
    cn_status st = parse_args(c, args, &buffer);
    if (!st)
        st = cnp_sources_init(&c->src, sources, nsources, src_type, width, height,
                              CSLFetchNameValue(args, "nodata"));
    c->out = (cnp_output){data, buf_type, pixel_space, line_space, width};
    if (!st && !buffer && !(c->vals = malloc(nvals * sizeof *c->vals)))
        st = cn_set_error(CN_ENOMEM, "out of memory");
    if (!st && !(c->valid = malloc(buffer ? (size_t)npix + 1 : CHUNK)))
        st = cn_set_error(CN_ENOMEM, "out of memory");
    if (!st)
        st = cnp_lua_state(&L);
    if (!st && npix > 0)
        st = cnp_lua_protect(L, buffer ? run_buffer : run_pixels, c);
    cnp_sources_free(&c->src);
    free(c->vals);
    free(c->valid);
    free(c);
    return st ? cnp_fail(WHO) : CE_None;
}
