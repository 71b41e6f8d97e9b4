-- residual_cnn.lua: a small residual CNN built by hand with cn.nn, trained on 9 x 9 patches of
-- SalinasA (AVIRIS, 204 bands) with a per-epoch callback printing the loss and the accuracy on
-- validation patches from the test split, saved as a patch model and used to classify the scene.
-- `cropnet train --arch cnn` does the same in one command; this is the long hand, to change.
--
-- usage: cropnet run samples/residual_cnn.lua [OUT_DIR] [SALINAS_DIR] [EPOCHS]
--   SALINAS_DIR holds SalinasA_corrected.mat and SalinasA_gt.mat (default ../shared/data/hsi);
--   EPOCHS defaults to 30
local cn = require "cropnet"
local json = require "cropnet.json"

local out = arg and arg[1] or "residual-cnn"
local hsi = arg and arg[2] or "../shared/data/hsi"
local epochs = math.tointeger(tonumber(arg and arg[3] or "30"))
local P = 9 -- patch side: each pixel is classified from the 9 x 9 pixels around it
os.execute("mkdir -p '" .. out:gsub("'", "'\\''") .. "'")
local function at(name) return out .. "/" .. name end

-- 1. the scene and its ground truth; 5% of each class for training, the rest for testing, and
--    50 test pixels per class set aside to watch the training (validation)
assert(cn.scene.import(hsi .. "/SalinasA_corrected.mat", at("salinasA.tif")))
assert(cn.scene.import(hsi .. "/SalinasA_gt.mat", at("gt.tif")))
local train, test = assert(cn.data.split(at("gt.tif"),
  { train = at("train.tif"), test = at("test.tif"), train_fraction = 0.05, seed = 1 }))
local val = assert(cn.data.split(test,
  { train = at("val.tif"), test = at("rest.tif"), per_class = 50, seed = 2 }))

-- 2. patches centred on the labelled pixels (reflected at the scene's edges), standardised per
--    band with the statistics of the training pixels
local X, y, classes = assert(cn.data.patches(at("salinasA.tif"), train, P))
local mean, std = cn.data.patch_stats(X)
cn.data.standardize_patches(X, mean, std)
local Xv, yv, vclasses = assert(cn.data.patches(at("salinasA.tif"), val, P))
cn.data.standardize_patches(Xv, mean, std)
for i, c in ipairs(classes) do assert(vclasses[i].id == c.id, "validation classes differ") end
print(string.format("%d training and %d validation patches of %d x %d x %d", X:size(1),
  Xv:size(1), X:size(2), P, P))

-- 3. the network: a 1x1 convolution mixes the 204 bands down to 32 (spectral reduction), a 3x3
--    convolution looks at the neighbourhood, an identity residual block and a projection block
--    (1x1 shortcut to 48 channels) refine it, global average pooling summarises the patch
cn.manual_seed(1)
local nn = cn.nn
local function conv3(nin, nout) return nn.SpatialConvolution(nin, nout, 3, 3, 1, 1, 1, 1) end
local net = nn.Sequential {
  nn.SpatialConvolution(X:size(2), 32, 1), nn.SpatialBatchNormalization(32), nn.ReLU(),
  conv3(32, 32), nn.SpatialBatchNormalization(32), nn.ReLU(),
  nn.ResidualBlock { conv3(32, 32), nn.SpatialBatchNormalization(32), nn.ReLU(),
                     conv3(32, 32), nn.SpatialBatchNormalization(32) },
  nn.ReLU(),
  nn.ResidualBlock({ conv3(32, 48), nn.SpatialBatchNormalization(48), nn.ReLU(),
                     conv3(48, 48), nn.SpatialBatchNormalization(48) },
                   nn.SpatialConvolution(32, 48, 1)),
  nn.ReLU(),
  nn.GlobalAveragePooling(), nn.Dropout(0.2), nn.Linear(48, #classes),
}
print(net)

-- 4. training, with augmentation (random flips and 90-degree turns of each patch); the callback
--    sees the net in evaluation mode (running statistics, no dropout), as it will classify
local function accuracy(scores, targets)
  local predicted, right = scores:argmax(), 0
  for i = 1, targets:size(1) do
    if predicted:get(i) == targets:get(i) then right = right + 1 end
  end
  return right / targets:size(1)
end

local started = os.clock()
local model = cn.train { net = net, inputs = X, targets = y, epochs = epochs, batch = 64, seed = 1,
  augment = true, optimizer = cn.optim.adam { learningRate = 1e-3 },
  schedule = { kind = "exp", gamma = 0.9 },
  on_epoch = function(e, s)
    local va = accuracy(net:forward(Xv), yv)
    print(string.format("epoch %2d  loss %.4f  training accuracy %.4f  validation accuracy %.4f  (%.2f s)",
      e, s.loss, s.accuracy, va, s.seconds))
  end }
print(string.format("trained in %.1f s of processor time", os.clock() - started))

-- 5. what classification needs besides the weights, then the model file
local class_table = {}
for i, c in ipairs(classes) do class_table[i] = { id = c.id, name = c.name, color = c.color } end
model:set_meta("bands", tostring(X:size(2)))
model:set_meta("classes", json.encode(class_table))
model:set_meta("input", "patch")
model:set_meta("patch", tostring(P))
model:set_meta("receptive_field", tostring(cn.core.receptive_field(net, P)))
model:set_tensor("norm.mean", mean)
model:set_tensor("norm.std", std)
assert(model:save(at("residual.cropnet")))

-- 6. the crop map (tiles read with a halo of P/2 pixels) and its accuracy on the whole test split
assert(cn.classify { model = cn.load(at("residual.cropnet")), image = at("salinasA.tif"),
                     output = at("map.tif") })
local r = assert(cn.evaluate(at("map.tif"), test))
print(string.format("crop map %s: overall accuracy %.4f, average accuracy %.4f, kappa %.4f",
  at("map.tif"), r.oa, r.aa, r.kappa))
