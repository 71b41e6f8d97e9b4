-- cropnet.demo: the main job end to end — scene → stratified split → per-pixel MLP → tiled crop
-- map → accuracy on the test split. On the embedded default (a synthetic field scene made by
-- cn.scene.synth) or on SalinasA (AVIRIS, 204 bands) imported from its .mat files.
--
-- Used by `cropnet demo` and by samples/crop_map.lua; returns the paths and the metrics.
local demo = {}

local function join(dir, name) return dir .. "/" .. name end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function check(ok, err)
  if not ok then error(err, 0) end
  return ok
end

-- The SalinasA .mat files in dir (or dir/hsi), or nil, reason.
function demo.find_salinas(dir)
  for _, d in ipairs { dir, join(dir, "hsi") } do
    local cube, gt = join(d, "SalinasA_corrected.mat"), join(d, "SalinasA_gt.mat")
    if exists(cube) and exists(gt) then return cube, gt end
  end
  return nil, dir .. ": no SalinasA_corrected.mat and SalinasA_gt.mat there (nor in hsi/)"
end

-- Runs the whole job. opts: out (folder for the outputs), data (folder with SalinasA, or nil for
-- the synthetic scene), seed, epochs, report (function(line) for progress lines, or nil).
function demo.run(opts)
  local cn = require "cropnet"
  local out, seed = opts.out, opts.seed or 1
  local say = opts.report or function() end
  local f = {
    image = join(out, "scene.tif"), labels = join(out, "labels.tif"), train = join(out, "train.tif"),
    test = join(out, "test.tif"), model = join(out, "model.cropnet"), map = join(out, "map.tif"),
  }
  local t0 = os.clock()
  if opts.data then
    local cube, gt = demo.find_salinas(opts.data)
    check(cube, gt)
    say("importing " .. cube)
    check(cn.scene.import(cube, f.image))
    check(cn.scene.import(gt, f.labels))
  else
    say("making the synthetic field scene")
    check(cn.scene.synth { output = f.image, labels = f.labels, seed = seed })
  end
  say("splitting the labels: 5% per class for training (seed " .. seed .. ")")
  check(cn.data.split(f.labels, { train = f.train, test = f.test, train_fraction = 0.05, seed = seed }))
  say("training a per-pixel MLP")
  local model, stats = cn.train { image = f.image, labels = f.train, seed = seed,
                                  epochs = opts.epochs or 100, batch = 32,
                                  optimizer = cn.optim.adam { learningRate = 2e-3 } }
  check(model:save(f.model))
  say(string.format("training accuracy %.4f after %d epochs", stats.accuracy, stats.epoch))
  say("classifying the scene")
  check(cn.classify { model = model, image = f.image, output = f.map })
  local r = check(cn.evaluate(f.map, f.test))
  return { files = f, metrics = r, seconds = os.clock() - t0, training_pixels = model:meta("training_pixels") }
end

return demo
