#include <lauxlib.h>
#include <lua.h>
int luaopen_cropnet_core(lua_State *L);
int luaopen_cropnet_core(lua_State *L) { lua_newtable(L); return 1; }
