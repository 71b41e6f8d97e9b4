-- cropnet.arch: networks named by a short specification, as `cropnet train --arch` takes them.
--
--   "mlp"                 bands → 256 → 128 → classes, ReLU (the reference per-pixel network)
--   "mlp:64,32"           hidden sizes given; "mlp:64,32/tanh" with another activation
--                         (relu, tanh, sigmoid, elu, leaky_relu)
--   "linear"              bands → classes: multinomial logistic regression
--
-- Layers draw their weights from the generator seeded by cn.manual_seed, so a seed fixes the net.
local arch = {}

local activations = { relu = "ReLU", tanh = "Tanh", sigmoid = "Sigmoid", elu = "ELU",
                      leaky_relu = "LeakyReLU" }

local function fail(spec, why)
  error(string.format("--arch '%s': %s", spec, why), 0)
end

-- Builds the network for spec with the given input bands and output classes.
function arch.build(spec, bands, classes)
  local nn = require "cropnet.nn"
  spec = spec or "mlp"
  local kind, rest = spec:match("^(%a+):?(.*)$")
  if kind == "linear" and rest == "" then
    return nn.Sequential { nn.Linear(bands, classes) }
  end
  if kind ~= "mlp" then fail(spec, "unknown architecture (mlp, mlp:H1,H2[/activation], linear)") end
  local sizes, act = rest:match("^([%d,]*)/?(%a*[_%a]*)$")
  if not sizes then fail(spec, "expected mlp:H1,H2,... optionally followed by /activation") end
  act = act ~= "" and act or "relu"
  local make = activations[act] and nn[activations[act]]
  if not make then fail(spec, "unknown activation '" .. act .. "'") end
  local hidden = {}
  for h in sizes:gmatch("[^,]+") do
    local n = math.tointeger(tonumber(h))
    if not n or n < 1 or n > 65536 then fail(spec, "hidden size '" .. h .. "' is not in 1..65536") end
    hidden[#hidden + 1] = n
  end
  if sizes == "" then hidden = { 256, 128 } end
  local layers, width = {}, bands
  for _, h in ipairs(hidden) do
    layers[#layers + 1] = nn.Linear(width, h)
    layers[#layers + 1] = make()
    width = h
  end
  layers[#layers + 1] = nn.Linear(width, classes)
  return nn.Sequential(layers)
end

return arch
