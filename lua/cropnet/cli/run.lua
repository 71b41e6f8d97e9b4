-- cropnet run SCRIPT.lua [ARGS...]: runs a user's Lua script with the cropnet module available,
-- the way lua5.4 would (the global `arg` holds the script at 0 and its arguments from 1, and `...`
-- receives the arguments). A script that raises fails the command with its message.
local cli = require "cropnet.cli"

local run = {}

run.help = [[
usage: cropnet run SCRIPT.lua [ARGS...]

Runs SCRIPT.lua with `require "cropnet"` available. The script sees its arguments in `arg` (arg[0]
is the script) and in `...`. An error in the script is reported as "cropnet: run: <message>" and
the command exits 1; a script may also return an integer exit status.]]

function run.run(args)
  local script = args[1]
  if not script then cli.fail("run", "no script given (usage: cropnet run SCRIPT.lua [ARGS...])") end
  local chunk, err = loadfile(script)
  if not chunk then cli.fail("run", err) end
  local script_args = table.move(args, 2, #args, 1, {})
  _G.arg = table.move(script_args, 1, #script_args, 1, { [0] = script })
  local ok, result = xpcall(chunk, function(e)
    return os.getenv("CROPNET_TRACEBACK") and debug.traceback(tostring(e), 2) or tostring(e)
  end, table.unpack(script_args))
  if not ok then cli.fail("run", result) end
  return math.tointeger(result) or 0
end

return run
