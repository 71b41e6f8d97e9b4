-- cropnet: the Lua API, `local cn = require "cropnet"`.
--
-- This file gathers the C binding (cropnet.core: tensors, layers, criterions, optimizers, the
-- training loop and model files) and the Lua-side constructors (cropnet.nn, cropnet.optim) into
-- one table, in the manner of Torch's torch/nn/optim packages.
local core = require "cropnet.core"

local cn = {
  version = core.version,
  set_threads = core.set_threads,
  get_threads = core.get_threads,
  blas = core.blas,
  manual_seed = core.manual_seed,
  tensor = core.tensor,
  zeros = core.zeros,
  randn = core.randn,
  rand = core.rand,
  model = core.model,
  load = core.load,
  raster = core.raster,       -- cn.raster.open(path), same_grid, cache_max
  classify = core.classify,   -- cn.classify{model =, image =, output =, ...}
  data = core.data,           -- samples, band_stats, split, labels_from_vector
  evaluate = core.data.evaluate, -- cn.evaluate(map, reference)
  scene = core.scene,         -- import, mat_variables, synth, benchmark_classes, synth_classes
  cluster = core.cluster,     -- kmeans{data =, k =, ...}, load(path), model(centroids)
  core = core,
}

cn.nn = require "cropnet.nn"
cn.optim = require "cropnet.optim"
cn.arch = require "cropnet.arch" -- networks from specs: build(spec, bands, classes, patch), CNN
-- cn.data.patches(image, labels, patch): the labelled pixels as N x bands x P x P patches (with
-- read_patches, patch_stats, standardize_patches, augment_patches from lpatches.c)
core.data.patches = require("cropnet.trainer").patches

-- cn.train{inputs = X, targets = Y, ...} runs the training loop on tensors; with image = and
-- labels = it trains a per-pixel or patch classifier from rasters (cropnet.trainer: arch =,
-- patch =, augment =) and returns a model ready for cn.classify.
function cn.train(opts)
  if type(opts) == "table" and opts.image ~= nil then
    return require("cropnet.trainer").train(opts)
  end
  return core.train(opts)
end

return cn
