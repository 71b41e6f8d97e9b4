-- cropnet info MODEL [--json]: what a model file holds: the network, its parameter count and its
-- metadata.
local cli = require "cropnet.cli"

local info = {}

info.help = [[
usage: cropnet info MODEL [--json]

Prints the network, the number of parameters and the metadata of a cropnet model file.
--json prints one JSON object instead.]]

local json = require "cropnet.json"

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
    io.stdout:write(json.encode { path = pos[1], network = tostring(model.net), parameters = params,
                                  metadata = json.object(meta) }, "\n")
  else
    io.stdout:write(pos[1], "\n", tostring(model.net), "\n", string.format("parameters: %d\n", params))
    for _, k in ipairs(keys) do io.stdout:write(k, ": ", meta[k], "\n") end
  end
  return 0
end

return info
