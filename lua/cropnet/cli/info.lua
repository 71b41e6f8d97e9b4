-- cropnet info MODEL [--json]: what a model file holds: the network, its parameter count and its
-- metadata.
local cli = require "cropnet.cli"

local info = {}

info.help = [[
usage: cropnet info MODEL [--json]

Prints the network, the number of parameters and the metadata of a cropnet model file.
--json prints one JSON object instead.]]

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ({ ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t' })[c]
      or string.format("\\u%04x", c:byte())
  end) .. '"'
end

function info.run(args)
  local opts, pos = cli.parse("info", args, { ["--json"] = "flag" })
  if #pos ~= 1 then cli.fail("info", "expected one model file (usage: cropnet info MODEL [--json])") end
  local cn = require "cropnet"
  local model, err = cn.load(pos[1])
  if not model then cli.fail("info", err) end
  local meta = model:meta()
  local keys = {}
  for k in pairs(meta) do keys[#keys + 1] = k end
  table.sort(keys)
  local params = 0
  for _, p in ipairs((model.net:parameters())) do params = params + p:numel() end
  if opts.json then
    local fields = {}
    for _, k in ipairs(keys) do fields[#fields + 1] = json_string(k) .. ": " .. json_string(meta[k]) end
    io.stdout:write(string.format('{"path": %s, "network": %s, "parameters": %d, "metadata": {%s}}\n',
      json_string(pos[1]), json_string(tostring(model.net)), params, table.concat(fields, ", ")))
  else
    io.stdout:write(pos[1], "\n", tostring(model.net), "\n", string.format("parameters: %d\n", params))
    for _, k in ipairs(keys) do io.stdout:write(k, ": ", meta[k], "\n") end
  end
  return 0
end

return info
