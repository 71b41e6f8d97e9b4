-- cropnet.cli: the `cropnet` command. The C host (cli/main.c) calls main(...) with the command
-- line; each subcommand lives in cropnet/cli/<name>.lua and exports run(args) and a help text.
--
-- Contract (docs/DESIGN.md): every subcommand has --help; success exits 0; a failure prints one
-- line "cropnet: <what>: <why>" on stderr and exits non-zero. Subcommands report failures by
-- raising cli.fail(what, why); anything else that escapes is a bug and is reported the same way.
local cli = {}

local commands = {
  { name = "demo", about = "the main job on the embedded default: split, train, classify, evaluate" },
  { name = "import", about = "convert a MATLAB .mat benchmark scene or label map to GeoTIFF" },
  { name = "synth", about = "generate a synthetic field scene and its labels (the embedded default)" },
  { name = "train", about = "train a per-pixel classifier from an image and labels" },
  { name = "classify", about = "classify an image with a model into a crop map" },
  { name = "split", about = "split a label raster into training and test labels" },
  { name = "eval", about = "measure a crop map against reference labels" },
  { name = "cluster", about = "segment an image into zones by k-means" },
  { name = "run", about = "run a Lua script with the cropnet module loaded" },
  { name = "vrt", about = "write a VRT that runs a model through the GDAL plugin" },
  { name = "info", about = "describe a model file" },
}

local usage = [[
usage: cropnet <command> [options]

commands:
%s
Run `cropnet <command> --help` for a command's options; `cropnet --version` for versions.]]

-- A failure the user should see as "cropnet: what: why" (no traceback, no position).
local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f) return f.what .. ": " .. f.why end

function cli.fail(what, why)
  error(setmetatable({ what = what, why = tostring(why) }, Failure), 0)
end

-- Parses args against spec = { ["--name"] = "value" | "flag" | "list" }. Returns the options
-- (keys without dashes, '-' turned into '_') and the positional arguments. "--" ends options.
function cli.parse(command, args, spec)
  local opts, pos, i = {}, {}, 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      table.move(args, i + 1, #args, #pos + 1, pos)
      break
    elseif a:sub(1, 1) == "-" and #a > 1 and not tonumber(a) then
      local name, inline = a:match("^(%-%-?[^=]+)=(.*)$")
      name = name or a
      local kind = spec[name]
      if not kind then cli.fail(command, "unknown option " .. name) end
      local key = name:gsub("^%-+", ""):gsub("%-", "_")
      if kind == "flag" then
        if inline then cli.fail(command, name .. " takes no value") end
        opts[key] = true
      else
        local v = inline
        if not v then
          i = i + 1
          v = args[i]
          if v == nil then cli.fail(command, name .. " needs a value") end
        end
        if kind == "list" then
          opts[key] = opts[key] or {}
          table.insert(opts[key], v)
        else
          opts[key] = v
        end
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

-- A number option within [lo, hi] (integer when integer is true), or the default.
function cli.number(command, opts, key, default, lo, hi, integer)
  local s = opts[key]
  if s == nil then return default end
  local v = math.tointeger(tonumber(s)) or tonumber(s)
  if v == nil or (integer and math.type(v) ~= "integer") or v < lo or v > hi then
    cli.fail(command, string.format("--%s must be %s in [%s, %s] (given '%s')", key:gsub("_", "-"),
      integer and "an integer" or "a number", lo, hi, s))
  end
  return v
end

-- GDAL's terminal progress ("0...10...20...30...40...50...60...70...80...90...100 - done.") on out
-- as a progress function for the commands' long runs.
function cli.term_progress(out)
  local last = -1
  return function(fraction)
    local tick = math.floor(math.max(0, math.min(1, fraction)) * 40 + 1e-9)
    for t = last + 1, tick do
      out:write(t % 4 == 0 and tostring(t // 4 * 10) or ".")
      if t == 40 then out:write(" - done.\n") end
    end
    if tick > last then last = tick; out:flush() end
    return true
  end
end

-- The project's (or the installed) samples folder, found from where this module was loaded.
function cli.samples_dir()
  local here = package.searchpath("cropnet.cli", package.path)
  if here then
    local root = here:gsub("[^/]*$", ""):gsub("lua/cropnet/$", "")
    local f = io.open(root .. "samples/lecture_models.lua")
    if f then f:close() return root .. "samples" end
    local share = here:gsub("lua/5%.4/cropnet/cli%.lua$", "cropnet/samples")
    if share ~= here then return share end
  end
  return "samples"
end

local function print_usage(out)
  local lines = {}
  for _, c in ipairs(commands) do
    lines[#lines + 1] = string.format("  %-10s %s", c.name, c.about)
  end
  out:write(string.format(usage, table.concat(lines, "\n")), "\n")
end

local function dispatch(args)
  local name = args[1]
  if name == nil or name == "--help" or name == "-h" or name == "help" then
    print_usage(io.stdout)
    return name == nil and 2 or 0
  end
  if name == "--version" then
    local core = require "cropnet.core"
    io.stdout:write(string.format("cropnet %s (%s, BLAS %s)\n", core.version, _VERSION, core.blas()))
    return 0
  end
  local known = false
  for _, c in ipairs(commands) do known = known or c.name == name end
  if not known then cli.fail(name, "unknown command (run `cropnet --help`)") end
  local command = require("cropnet.cli." .. name)
  local rest = table.move(args, 2, #args, 1, {})
  for _, a in ipairs(rest) do
    if a == "--help" or a == "-h" then
      io.stdout:write(command.help, "\n")
      return 0
    end
    if a == "--" then break end
  end
  return command.run(rest) or 0
end

function cli.main(...)
  local args = { ... }
  local ok, result = xpcall(dispatch, function(e)
    if getmetatable(e) == Failure then return e end
    if os.getenv("CROPNET_TRACEBACK") then return debug.traceback(tostring(e), 2) end
    return e
  end, args)
  if ok then return math.tointeger(result) or 0 end
  if getmetatable(result) == Failure then
    io.stderr:write("cropnet: ", tostring(result), "\n")
  else
    io.stderr:write("cropnet: ", args[1] or "", ": internal error: ", tostring(result), "\n")
  end
  return 1
end

return cli
