/*
 * lopts.h — reading the option tables of the binding's calls (cn.train{...}, cn.classify{...},
 * cn.cluster.kmeans{...}, cn.scene.synth{...}, cn.data.split(labels, {...}), ...): names checked
 * against the known ones, integers checked against their range, lists of strings copied.
 *
 * Every check raises (a wrong option is misuse, not the environment), with a message that starts
 * with the caller's name, fname: "cn.train: option 'epochs' must be an integer in 1..2147483647".
 * A typo must not silently run with a default, hence the check of every name.
 */
#ifndef LOPTS_H
#define LOPTS_H

#include <lauxlib.h>
#include <lua.h>

/* The most strings lcn_string_array copies: option lists are short (GDAL creation options, input
 * paths); more is a mistake, not a list to allocate for. */
#define LCN_STRINGS_MAX 1000

/* Raises "FNAME: unknown option 'NAME'" on the first key of the table at idx that is not in known
 * (a NULL-terminated list); a key that is not a string is named '?'. */
void lcn_check_options(lua_State *L, int idx, const char *const *known, const char *fname);

/* The table at idx's field name as an integer in lo..hi, or def when absent (nil); raises
 * "FNAME: option 'NAME' must be an integer in LO..HI" otherwise. The stack is left as found. */
lua_Integer lcn_int_opt(lua_State *L, int idx, const char *name, lua_Integer def, lua_Integer lo,
                        lua_Integer hi, const char *fname);

/* The strings of the list at idx (1..#list), copied into one userdata pushed on the stack as a
 * NULL-terminated array: the copies live as long as that stack slot, whatever a callback does to
 * the list meanwhile. Returns NULL and pushes nothing when #list is outside 0..LCN_STRINGS_MAX
 * (*bad = 0) or the entry *bad is not a string, so the caller can word the error. #list may call
 * __len (and raise). */
const char *const *lcn_string_array(lua_State *L, int idx, lua_Integer *bad);

/* The table at idx's field name, a list of strings, as lcn_string_array makes it; the list and
 * the array stay on the stack. NULL (nothing left on the stack) when absent. Raises "FNAME: option
 * 'NAME' must be a list of strings" or "... has too many strings". */
const char *const *lcn_strings_opt(lua_State *L, int idx, const char *name, const char *fname);

#endif
