-- cropnet.trainer: training a classifier from rasters — the workflow behind
-- `cn.train{image = ..., labels = ...}` and `cropnet train`.
--
-- image + label raster → labelled pixels → per-band statistics of the training pixels →
-- standardised pixels, or standardised P × P patches centred on them for a patch network →
-- the network (given, or built from an --arch spec) → cn.train's loop → a model carrying what
-- classification needs: band count, class table (id, name, colour per output), normalisation
-- tensors, the input kind ("pixel" or "patch" with its side) and the receptive field.
local core = require "cropnet.core"
local json = require "cropnet.json"

local trainer = {}

-- Options this workflow consumes; everything else goes to the training loop unchanged.
local own = { image = true, labels = true, field = true, arch = true, net = true,
              seed = true, validation = true, patch = true }

local function path_of(image)
  if type(image) == "string" then return image end
  local ok, p = pcall(function() return image:path() end)
  if ok and type(p) == "string" then return p end
  error("cn.train: option 'image' must be a raster path or an open raster", 3)
end

local function hex(rgb)
  return string.format("#%02x%02x%02x", rgb[1] or 0, rgb[2] or 0, rgb[3] or 0)
end

-- The class table stored in the model: entry k is the network's output k.
local function class_table(classes)
  local t = {}
  for i, c in ipairs(classes) do
    t[i] = { id = c.id, name = c.name or ("class " .. c.id),
             color = type(c.color) == "string" and c.color or hex(c.rgb or { 0, 0, 0 }) }
  end
  return t
end

-- The labelled pixels of labels as patches of side patch centred on them: X (N x bands x
-- patch x patch, reflect-padded at the edges, invalid neighbours NaN), y, classes, info (as
-- cn.data.samples: skipped, positions); nil, "path: reason" on a file's failure.
function trainer.patches(image, labels, patch)
  local data = core.data
  local x, y, classes, info = data.samples(image, labels)
  if not x then return nil, y end
  local p, err = data.read_patches(image, info.positions, patch)
  if not p then return nil, err end
  return p, y, classes, info
end

-- The patch side a training asks for: opts.patch, checked against the network kind.
local function patch_side(opts)
  local kind = opts.net and (opts.patch and "patch" or "pixel")
               or require("cropnet.arch").resolve(opts.arch).kind
  if kind == "pixel" then
    if opts.patch then
      error("--patch needs a patch network (--arch cnn, or a layer list with convolutions)", 0)
    end
    return nil
  end
  local p = opts.patch or require("cropnet.arch").DEFAULT_PATCH
  if math.type(p) ~= "integer" or p < 1 or p > 255 or p % 2 == 0 then
    error("--patch must be an odd integer in 1..255 (given " .. tostring(p) .. ")", 0)
  end
  return p
end

-- Trains on the labelled pixels of opts.image; returns model, stats (as cn.train does).
function trainer.train(opts)
  local cn = require "cropnet"
  local image = path_of(opts.image)
  local labels = opts.labels
  if type(labels) ~= "string" then error("cn.train: option 'labels' must be a label raster path", 2) end
  local function check(v, err)
    if v == nil then error(err, 0) end -- "path: reason" from the data layer
    return v
  end
  if opts.field then
    labels = check(cn.data.labels_from_vector(labels, opts.field, image))
  end
  local patch = patch_side(opts)
  local x, y, classes
  if patch then
    x, y, classes = trainer.patches(image, labels, patch)
  else
    x, y, classes = cn.data.samples(image, labels)
  end
  check(x, y)
  if #classes < 2 then
    error(string.format("%s: only one class (%d) is labelled; a classifier needs two or more",
      labels, classes[1] and classes[1].id or 0), 0)
  end
  local mean, std
  if patch then
    mean, std = core.data.patch_stats(x)
    core.data.standardize_patches(x, mean, std)
  else
    mean, std = cn.data.band_stats(x)
    x:standardize(mean, std)
  end
  local bands = x:size(2)
  local seed = opts.seed or 1
  cn.manual_seed(seed)
  local net = opts.net or require("cropnet.arch").build(opts.arch, bands, #classes, patch)
  local loop = { net = net, inputs = x, targets = y, seed = seed }
  if patch then
    local defaults = require("cropnet.arch").PATCH_TRAINING
    loop.epochs, loop.schedule = defaults.epochs, defaults.schedule
  end
  for k, v in pairs(opts) do
    if not own[k] then loop[k] = v end
  end
  local model, stats = core.train(loop)
  model:set_meta("bands", tostring(bands))
  model:set_meta("classes", json.encode(class_table(classes)))
  if patch then
    model:set_meta("input", "patch")
    model:set_meta("patch", tostring(patch))
    model:set_meta("receptive_field", tostring(core.receptive_field(net, patch)))
  else
    model:set_meta("input", "pixel")
    model:set_meta("receptive_field", "1")
  end
  model:set_meta("trained_on", image)
  model:set_meta("training_pixels", tostring(x:size(1)))
  model:set_tensor("norm.mean", mean)
  model:set_tensor("norm.std", std)
  return model, stats
end

return trainer
