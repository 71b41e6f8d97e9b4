-- cropnet.arch: networks named by a short specification, as `cropnet train --arch` takes them.
--
--   "mlp"                 bands → 256 → 128 → classes, ReLU (the reference per-pixel network)
--   "mlp:64,32"           hidden sizes given; "mlp:64,32/tanh" with another activation
--                         (relu, tanh, sigmoid, elu, leaky_relu)
--   "linear"              bands → classes: multinomial logistic regression
--   "cnn"                 the default spectral-spatial patch network (arch.CNN, below)
--   a layer list          JSON text ('[{"conv": 32, "kernel": 1}, "relu", ...]'), the name of a
--                         .json file holding it, or the same list as a Lua table: see docs/arch.md
--
-- A layer list describes the body of a network; cropnet works out every input size (channels,
-- features) by running a probe sample through the layers as it builds them, adds a flatten where
-- a dense layer meets a feature map, and ends the network with a dense layer to the classes. A
-- list with a spatial layer (convolution, pooling, residual block, view) is a patch network:
-- its input is N × bands × P × P; otherwise a per-pixel network on N × bands.
--
-- Layers draw their weights from the generator seeded by cn.manual_seed, so a seed fixes the net.
local arch = {}

arch.DEFAULT_PATCH = 9

-- The default patch network: a 1×1 convolution mixes the bands down to 32 (spectral
-- reduction), a 3×3 convolution looks at the neighbourhood, a residual block of two more refines
-- it, global average pooling summarises the patch and a dense layer (added by build) scores the
-- classes. 32 channels throughout: on SalinasA (5% split) 64 channels in the spatial layers cost
-- twice the time for no better accuracy.
arch.CNN = {
  { conv = 32, kernel = 1 }, "batchnorm", "relu",
  { conv = 32, kernel = 3, padding = "same" }, "batchnorm", "relu",
  { residual = { { conv = 32, kernel = 3, padding = "same" }, "batchnorm", "relu",
                 { conv = 32, kernel = 3, padding = "same" }, "batchnorm" } },
  "relu",
  "gap",
}

-- How patch networks train unless told otherwise: 30 epochs, the learning rate decayed by 0.9
-- per epoch (so the last epochs, whose batch statistics become the running statistics of batch
-- normalisation, move the weights little).
arch.PATCH_TRAINING = { epochs = 30, schedule = { kind = "exp", gamma = 0.9 } }

local activations = { relu = "ReLU", tanh = "Tanh", sigmoid = "Sigmoid", elu = "ELU",
                      leaky_relu = "LeakyReLU" }

local function fail(spec, why)
  error(string.format("--arch '%s': %s", spec, why), 0)
end

-- ------------------------------------------------------------------ per-pixel shorthands

local function build_mlp(spec, bands, classes)
  local nn = require "cropnet.nn"
  local kind, rest = spec:match("^(%a+):?(.*)$")
  if kind == "linear" and rest == "" then
    return nn.Sequential { nn.Linear(bands, classes) }
  end
  if kind ~= "mlp" then
    fail(spec, "unknown architecture (mlp, mlp:H1,H2[/activation], linear, cnn, a JSON layer list or a .json file)")
  end
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

-- ------------------------------------------------------------------ layer lists

-- Layer kinds: the options each accepts besides its own key, and whether it is spatial.
local kinds = {
  conv = { options = { kernel = true, stride = true, padding = true, dilation = true, bias = true,
                       floor = true }, spatial = true },
  conv3d = { options = { kernel = true, stride = true, padding = true, dilation = true, bias = true,
                         floor = true }, spatial = true },
  maxpool = { options = { stride = true, padding = true, floor = true }, spatial = true },
  avgpool = { options = { stride = true, padding = true, floor = true }, spatial = true },
  gap = { options = {}, spatial = true },
  residual = { options = { projection = true }, spatial = true },
  view = { options = {}, spatial = true },
  flatten = { options = {} },
  batchnorm = { options = { eps = true, momentum = true } },
  dropout = { options = {} },
  dense = { options = {} },
  relu = { options = {} }, tanh = { options = {} }, sigmoid = { options = {} },
  elu = { options = {} }, leaky_relu = { options = {} },
}

local function kind_names()
  local t = {}
  for k in pairs(kinds) do t[#t + 1] = k end
  table.sort(t)
  return table.concat(t, ", ")
end

-- The kind and options of one entry: "relu" or {relu = true}, {conv = 64, kernel = 3}, ...
local function entry_of(entry, where)
  if type(entry) == "string" then
    if not kinds[entry] then error(where .. ": unknown layer '" .. entry .. "' (" .. kind_names() .. ")", 0) end
    return entry, true, {}
  end
  if type(entry) ~= "table" then error(where .. ": a layer is a name or an object, not a " .. type(entry), 0) end
  local kind
  for k in pairs(entry) do
    if kinds[k] then
      if kind then error(where .. ": names two layers, '" .. kind .. "' and '" .. k .. "'", 0) end
      kind = k
    end
  end
  if not kind then error(where .. ": names no layer (" .. kind_names() .. ")", 0) end
  for k in pairs(entry) do
    if k ~= kind and not kinds[kind].options[k] then
      error(string.format("%s: '%s' takes no option '%s'", where, kind, tostring(k)), 0)
    end
  end
  return kind, entry[kind], entry
end

local function is_spatial(list)
  for _, entry in ipairs(list) do
    local kind = type(entry) == "string" and entry or nil
    if type(entry) == "table" then
      for k in pairs(entry) do if kinds[k] then kind = k end end
    end
    if kind and kinds[kind].spatial then return true end
  end
  return false
end

local function int(v, where, what, lo)
  local n = math.tointeger(v)
  if not n or n < (lo or 1) then
    error(string.format("%s: %s must be an integer >= %d (given %s)", where, what, lo or 1, tostring(v)), 0)
  end
  return n
end

-- A number or a list of numbers, each an integer >= lo.
local function sizes(v, where, what, lo)
  if type(v) ~= "table" then return int(v, where, what, lo) end
  local t = {}
  for i, x in ipairs(v) do t[i] = int(x, where, what, lo) end
  return t
end

-- "same" padding for a kernel (number or list) and dilation: D·(k − 1) / 2 on each axis.
local function same_padding(kernel, dilation, where)
  local function one(k, d)
    if (d * (k - 1)) % 2 ~= 0 then error(where .. ": \"same\" padding needs an odd kernel", 0) end
    return d * (k - 1) // 2
  end
  if type(kernel) == "number" and type(dilation) == "number" then return one(kernel, dilation) end
  local n = type(kernel) == "table" and #kernel or #dilation
  local t = {}
  for i = 1, n do
    t[i] = one(type(kernel) == "table" and kernel[i] or kernel, type(dilation) == "table" and dilation[i] or dilation)
  end
  return t
end

local build_list -- (list, shape, where) -> layers made, shape after them

-- Shape of a tensor without its batch dimension.
local function shape_of(t)
  local s = {}
  for i = 2, t:dim() do s[#s + 1] = t:size(i) end
  return s
end

local function shape_str(s)
  return "(" .. table.concat(s, " x ") .. ")"
end

-- Runs a zero sample of shape through module (evaluation mode) and returns the output's shape.
local function probe(module, shape, where)
  local cn = require "cropnet"
  local dims = { 1 }
  for i, d in ipairs(shape) do dims[i + 1] = d end
  module:evaluate()
  local ok, y = pcall(module.forward, module, cn.zeros(table.unpack(dims)))
  if not ok then
    error(string.format("%s: does not fit its input %s: %s", where, shape_str(shape),
      tostring(y):gsub("^[^:]*:%d+: ", "")), 0)
  end
  return shape_of(y)
end

-- The layer constructors: cropnet.nn's, or the core's where nn does not name them.
local nn = setmetatable({}, { __index = function(_, name)
  return require("cropnet.nn")[name] or require("cropnet.core")[name]
end })

-- One module from an entry, for inputs of the given shape.
local function make(kind, value, opts, shape, where)
  if kind == "conv" or kind == "conv3d" then
    local dims = kind == "conv" and 2 or 3
    if #shape ~= dims + 1 then
      error(string.format("%s: a %s needs %s feature maps, its input is %s", where, kind,
        dims == 2 and "C x H x W" or "C x D x H x W", shape_str(shape)), 0)
    end
    local kernel = sizes(opts.kernel or 3, where, "kernel", 1)
    local dilation = sizes(opts.dilation or 1, where, "dilation", 1)
    local padding = opts.padding or 0
    if padding == "same" then padding = same_padding(kernel, dilation, where)
    else padding = sizes(padding, where, "padding", 0) end
    local t = { ["in"] = shape[1], out = int(value, where, kind .. " channels"), kernel = kernel,
                stride = sizes(opts.stride or 1, where, "stride", 1), padding = padding,
                dilation = dilation, bias = opts.bias ~= false, floor = opts.floor == true }
    return dims == 2 and nn.SpatialConvolution(t) or nn.VolumetricConvolution(t)
  elseif kind == "maxpool" or kind == "avgpool" then
    local k = sizes(value, where, kind .. " kernel", 1)
    local t = { kernel = k, stride = sizes(opts.stride or k, where, "stride", 1),
                padding = sizes(opts.padding or 0, where, "padding", 0), floor = opts.floor == true }
    return kind == "maxpool" and nn.SpatialMaxPooling(t) or nn.SpatialAveragePooling(t)
  elseif kind == "gap" then
    return nn.GlobalAveragePooling()
  elseif kind == "flatten" then
    return nn.Flatten()
  elseif kind == "view" then
    if type(value) ~= "table" then error(where .. ": view takes a list of sizes per sample, e.g. [1, -1, 9, 9]", 0) end
    local t = {}
    for i, d in ipairs(value) do t[i] = int(d, where, "view size", -1) end
    return nn.View(table.unpack(t))
  elseif kind == "batchnorm" then
    return nn.BatchNormalization(shape[1], opts.eps or 1e-5, opts.momentum or 0.1)
  elseif kind == "dropout" then
    local p = value == true and 0.5 or tonumber(value)
    if not p or p < 0 or p >= 1 then error(where .. ": dropout probability must be in [0, 1)", 0) end
    return nn.Dropout(p)
  elseif kind == "dense" then
    local width = 1
    for _, d in ipairs(shape) do width = width * d end
    return nn.Linear(width, int(value, where, "dense width"))
  elseif kind == "residual" then
    if type(value) ~= "table" then error(where .. ": residual takes a list of layers", 0) end
    local inner, out = build_list(value, shape, where .. " residual")
    local projection
    local same = #out == #shape
    for i = 1, #shape do same = same and out[i] == shape[i] end
    if opts.projection == true or (not same and opts.projection ~= false) then
      if #out ~= 3 or #shape ~= 3 or shape[2] % out[2] ~= 0 or shape[3] % out[3] ~= 0 then
        error(string.format("%s: no 1x1 projection maps %s to %s", where, shape_str(shape), shape_str(out)), 0)
      end
      projection = nn.SpatialConvolution { ["in"] = shape[1], out = out[1], kernel = 1,
                                           stride = { shape[2] // out[2], shape[3] // out[3] } }
    end
    return nn.ResidualBlock(inner, projection)
  elseif kind == "elu" or kind == "leaky_relu" then
    local p = value ~= true and tonumber(value) or nil
    return nn[activations[kind]](p)
  else
    return nn[activations[kind]]()
  end
end

build_list = function(list, shape, where)
  if type(list) ~= "table" or #list == 0 then error(where .. ": expected a non-empty list of layers", 0) end
  local seq = nn.Sequential()
  for i, entry in ipairs(list) do
    local at = string.format("%s layer %d", where, i)
    local kind, value, opts = entry_of(entry, at)
    at = at .. " (" .. kind .. ")"
    if kind == "dense" and #shape > 1 then
      local flat = nn.Flatten()
      shape = probe(flat, shape, at)
      seq:add(flat)
    end
    local m = make(kind, value, opts, shape, at)
    shape = probe(m, shape, at)
    seq:add(m)
  end
  return seq, shape
end

-- ------------------------------------------------------------------ entry points

-- Resolves spec to what it describes: {kind = "pixel" | "patch", list = layer list or nil,
-- name = text for messages}. spec: nil (mlp), a string (shorthand, JSON text, .json file) or a
-- Lua layer list.
function arch.resolve(spec)
  spec = spec or "mlp"
  if type(spec) == "table" then
    return { kind = is_spatial(spec) and "patch" or "pixel", list = spec, name = "layer list" }
  end
  if type(spec) ~= "string" then error("--arch: expected a name, JSON text or a layer list", 0) end
  if spec == "cnn" then return { kind = "patch", list = arch.CNN, name = "cnn" } end
  local text = spec
  if not spec:match("^%s*[%[{]") then
    if not spec:match("%.json$") then return { kind = "pixel", name = spec } end
    local f, err = io.open(spec, "rb")
    if not f then fail(spec, "cannot read it: " .. (err:match(": (.*)$") or err)) end
    text = f:read("a")
    f:close()
  end
  local core = require "cropnet.core"
  local list, err = core.json_decode(text)
  if list == nil then fail(#spec > 40 and spec:sub(1, 37) .. "..." or spec, "not valid JSON: " .. err) end
  if type(list) ~= "table" or #list == 0 then
    fail(#spec > 40 and spec:sub(1, 37) .. "..." or spec, "expected a JSON array of layers")
  end
  return { kind = is_spatial(list) and "patch" or "pixel", list = list, name = "JSON" }
end

-- Whether spec describes a patch network.
function arch.is_patch(spec)
  return arch.resolve(spec).kind == "patch"
end

-- Builds the network for spec with the given input bands and output classes; patch networks
-- need the patch side (default arch.DEFAULT_PATCH). Returns the network in training mode.
function arch.build(spec, bands, classes, patch)
  local r = arch.resolve(spec)
  if not r.list then return build_mlp(r.name, bands, classes) end
  local shape = { bands }
  if r.kind == "patch" then
    patch = patch or arch.DEFAULT_PATCH
    shape = { bands, patch, patch }
  end
  local seq, out = build_list(r.list, shape, "--arch")
  if #out > 1 then
    local flat = nn.Flatten()
    out = probe(flat, out, "--arch output")
    seq:add(flat)
  end
  seq:add(nn.Linear(out[1], classes))
  seq:training()
  return seq
end

return arch
