-- cropnet.trainer: training a per-pixel classifier from rasters — the workflow behind
-- `cn.train{image = ..., labels = ...}` and `cropnet train`.
--
-- image + label raster → labelled pixels → per-band statistics of the training pixels →
-- standardised pixels → the network (given, or built from an --arch spec) → cn.train's loop →
-- a model carrying what classification needs: band count, class table (id, name, colour per
-- output), normalisation tensors, the input kind and receptive field.
local core = require "cropnet.core"
local json = require "cropnet.json"

local trainer = {}

-- Options this workflow consumes; everything else goes to the training loop unchanged.
local own = { image = true, labels = true, field = true, arch = true, net = true,
              seed = true, validation = true }

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
  local x, y, classes = cn.data.samples(image, labels)
  check(x, y)
  if #classes < 2 then
    error(string.format("%s: only one class (%d) is labelled; a classifier needs two or more",
      labels, classes[1] and classes[1].id or 0), 0)
  end
  local mean, std = cn.data.band_stats(x)
  x:standardize(mean, std)
  local bands = x:size(2)
  local seed = opts.seed or 1
  cn.manual_seed(seed)
  local net = opts.net or require("cropnet.arch").build(opts.arch, bands, #classes)
  local loop = { net = net, inputs = x, targets = y, seed = seed }
  for k, v in pairs(opts) do
    if not own[k] then loop[k] = v end
  end
  local model, stats = core.train(loop)
  model:set_meta("bands", tostring(bands))
  model:set_meta("classes", json.encode(class_table(classes)))
  model:set_meta("input", "pixel")
  model:set_meta("receptive_field", "1")
  model:set_meta("trained_on", image)
  model:set_meta("training_pixels", tostring(x:size(1)))
  model:set_tensor("norm.mean", mean)
  model:set_tensor("norm.std", std)
  return model, stats
end

return trainer
