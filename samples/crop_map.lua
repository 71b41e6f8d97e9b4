-- crop_map.lua: the main job as a Lua workflow — scene and ground truth → stratified split →
-- per-pixel MLP → crop map → accuracy on the test split. The same steps as `cropnet demo`,
-- written out with the Lua API so each can be changed (another network, optimizer, split...).
--
-- usage: cropnet run samples/crop_map.lua [OUT_DIR] [SALINAS_DIR]
--   without SALINAS_DIR: the synthetic field scene (cn.scene.synth);
--   with it: SalinasA imported from SalinasA_corrected.mat and SalinasA_gt.mat in that folder.
local cn = require "cropnet"

local out = arg and arg[1] or "crop-map"
local salinas = arg and arg[2]
os.execute("mkdir -p '" .. out:gsub("'", "'\\''") .. "'")
local function at(name) return out .. "/" .. name end

-- 1. a scene and its ground truth
if salinas then
  assert(cn.scene.import(salinas .. "/SalinasA_corrected.mat", at("scene.tif")))
  assert(cn.scene.import(salinas .. "/SalinasA_gt.mat", at("labels.tif")))
else
  assert(cn.scene.synth { output = at("scene.tif"), labels = at("labels.tif"), seed = 1 })
end

-- 2. 5% of each class for training, the rest for testing; never a shared pixel
local train, test = assert(cn.data.split(at("labels.tif"),
  { train = at("train.tif"), test = at("test.tif"), train_fraction = 0.05, seed = 1 }))

-- 3. a per-pixel MLP on the training pixels (normalised per band), Adam, a report every 20 epochs
local img <close> = assert(cn.raster.open(at("scene.tif")))
cn.manual_seed(1)
local _, _, classes = cn.data.samples(at("scene.tif"), train) -- the classes the split kept
local net = cn.nn.Sequential { cn.nn.Linear(img.bands, 128), cn.nn.ReLU(),
                               cn.nn.Linear(128, 64), cn.nn.ReLU(), cn.nn.Linear(64, #classes) }
local model = cn.train { image = img, labels = train, net = net, epochs = 100, batch = 32, seed = 1,
                         optimizer = cn.optim.adam { learningRate = 2e-3 },
                         on_epoch = function(e, s)
                           if e % 20 == 0 then print(string.format("epoch %3d  loss %.4f  accuracy %.4f", e, s.loss, s.accuracy)) end
                         end }
assert(model:save(at("field.cropnet")))

-- 4. the crop map, tile by tile, then its accuracy on the test pixels
assert(cn.classify { model = cn.load(at("field.cropnet")), image = img, output = at("map.tif") })
local r = assert(cn.evaluate(at("map.tif"), test))
print(string.format("overall accuracy %.4f, average accuracy %.4f, kappa %.4f", r.oa, r.aa, r.kappa))
for _, c in ipairs(r.classes) do
  print(string.format("  %-30s F1 %.3f  (%d test pixels)", c.name, c.f1, c.support))
end
