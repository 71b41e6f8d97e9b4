-- patch_spec: patch networks from Lua and the command — networks built from specifications
-- (the default CNN, JSON layer lists, Lua tables) and their refusals, patches read from rasters,
-- their statistics, standardisation and augmentation, training a patch model from rasters and
-- classifying with it, and `cropnet train --arch cnn --patch P`.
local clitest = require "clitest"
local cn = require "cropnet"

local _, at = clitest.workdir("patch_spec")
local ok = clitest.ok

local function shape(t)
  local s = {}
  for i = 1, t:dim() do s[i] = t:size(i) end
  return s
end

-- The error of f(...) without Lua's position prefix.
local function err_of(f, ...)
  local good, e = pcall(f, ...)
  assert.is_false(good, "expected an error")
  return tostring(e)
end

setup(function()
  ok(clitest.run("synth", "-o", at("scene.tif"), "--labels", at("labels.tif"), "--width", "64",
    "--height", "48", "--bands", "6", "--classes", "3", "--seed", "2"))
  ok(clitest.run("split", at("labels.tif"), "--train", at("train.tif"), "--test", at("test.tif"),
    "--train-fraction", "0.2", "--seed", "1", "-q"))
end)

describe("cn.arch", function()
  it("builds the default CNN: bands x P x P patches to one score per class", function()
    local net = cn.arch.build("cnn", 12, 5, 9)
    net:evaluate()
    assert.same({ 3, 5 }, shape(net:forward(cn.randn(3, 12, 9, 9))))
    assert.equal(9, cn.core.receptive_field(net, 9))
  end)

  it("builds the same network from JSON text and from a Lua table", function()
    local json = '[{"conv": 8, "kernel": 3, "padding": "same"}, "batchnorm", "relu", ' ..
                 '{"maxpool": 2, "floor": true}, {"dense": 16}, "relu", {"dropout": 0.25}]'
    local tbl = { { conv = 8, kernel = 3, padding = "same" }, "batchnorm", "relu",
                  { maxpool = 2, floor = true }, { dense = 16 }, "relu", { dropout = 0.25 } }
    local a, b = cn.arch.build(json, 4, 3, 7), cn.arch.build(tbl, 4, 3, 7)
    assert.equal(tostring(a), tostring(b))
    -- 7 x 7 pooled to 3 x 3 with 8 channels: flattened to 72, added before the dense layer
    assert.matches("nn.Linear(72 -> 16)", tostring(a), 1, true)
    assert.matches("nn.Linear(16 -> 3)", tostring(a), 1, true)
    assert.is_true(cn.arch.is_patch(json))
  end)

  it("gives a residual block that changes the channels a 1x1 projection", function()
    local net = cn.arch.build({ { conv = 4, kernel = 1 },
      { residual = { { conv = 8, kernel = 3, padding = 1 }, "relu" } }, "gap" }, 3, 2, 5)
    assert.matches("projection", tostring(net), 1, true)
    net:evaluate()
    assert.same({ 2, 2 }, shape(net:forward(cn.randn(2, 3, 5, 5))))
  end)

  it("reads a layer list from a .json file; one without spatial layers is per-pixel", function()
    clitest.write(at("mlp.json"), '[{"dense": 10}, "tanh"]')
    assert.is_false(cn.arch.is_patch(at("mlp.json")))
    local net = cn.arch.build(at("mlp.json"), 6, 3)
    assert.same({ 2, 3 }, shape(net:forward(cn.randn(2, 6))))
  end)

  it("refuses unknown layers, unknown options and bad JSON, saying where", function()
    assert.matches("layer 2: unknown layer 'rleu'", err_of(cn.arch.build, '[{"conv": 4}, "rleu"]', 3, 2, 5), 1, true)
    assert.matches("layer 1: 'conv' takes no option 'kernal'",
      err_of(cn.arch.build, '[{"conv": 4, "kernal": 3}]', 3, 2, 5), 1, true)
    assert.matches("not valid JSON: .* at line 1, column", err_of(cn.arch.build, '[{"conv": 4', 3, 2, 5))
    assert.matches("names two layers", err_of(cn.arch.build, { { conv = 4, dense = 3 } }, 3, 2, 5), 1, true)
  end)

  it("refuses a layer that does not fit its input, with the sizes", function()
    local e = err_of(cn.arch.build, '[{"conv": 4, "kernel": 7}]', 3, 2, 5)
    assert.matches("layer 1 (conv): does not fit its input (3 x 5 x 5)", e, 1, true)
    assert.matches("Output size is too small", e, 1, true)
  end)
end)

describe("patches from rasters", function()
  it("reads the labelled pixels as N x bands x P x P patches centred on them", function()
    local x, y, classes, info = cn.data.patches(at("scene.tif"), at("train.tif"), 5)
    assert.is_not_nil(x, y)
    local pixels = cn.data.samples(at("scene.tif"), at("train.tif"))
    assert.same({ pixels:size(1), 6, 5, 5 }, shape(x))
    assert.equal(3, #classes)
    assert.equal(x:size(1), info.positions:size(1))
    for i = 1, math.min(x:size(1), 20) do -- the centre of each patch is its pixel
      for b = 1, 6 do assert.equal(pixels:get(i, b), x:get(i, b, 3, 3)) end
    end
  end)

  it("gives centre-pixel statistics equal to the pixels' and standardises per band", function()
    local x = cn.data.patches(at("scene.tif"), at("train.tif"), 3)
    local pixels = cn.data.samples(at("scene.tif"), at("train.tif"))
    local m1, s1 = cn.data.patch_stats(x)
    local m2, s2 = cn.data.band_stats(pixels)
    assert.same(m2:totable(), m1:totable())
    assert.same(s2:totable(), s1:totable())
    cn.data.standardize_patches(x, m1, s1)
    pixels:standardize(m2, s2)
    assert.equal(pixels:get(1, 2), x:get(1, 2, 2, 2))
  end)

  it("returns nil and the reason for a missing file or a position outside the raster", function()
    local pos = cn.tensor { { 0, 0 } }
    local x, e = cn.data.read_patches(at("missing.tif"), pos, 3)
    assert.is_nil(x)
    assert.matches("missing.tif", e, 1, true)
    x, e = cn.data.read_patches(at("scene.tif"), cn.tensor { { 48, 0 } }, 3)
    assert.is_nil(x)
    assert.matches("outside the raster (64 x 48)", e, 1, true)
    assert.has_error(function() cn.data.read_patches(at("scene.tif"), pos, 4) end)
  end)

  it("augments a batch the same way for the same seed", function()
    local a = cn.randn(16, 2, 5, 5)
    local b = a:clone()
    cn.data.augment_patches(a, 3)
    cn.data.augment_patches(b, 3)
    assert.same(a:totable(), b:totable())
  end)
end)

describe("cn.json_decode", function()
  it("decodes arrays, objects and scalars, and reports errors with their position", function()
    assert.same({ 1, { a = "x", b = true }, 2.5 }, cn.core.json_decode('[1, {"a": "x", "b": true}, 2.5]'))
    local v, e = cn.core.json_decode('{"a": }')
    assert.is_nil(v)
    assert.matches("line 1, column", e, 1, true)
  end)
end)

describe("training and classifying with a patch model from Lua", function()
  it("stores the patch, the receptive field and the input kind, and classifies the scene", function()
    local model = cn.train { image = at("scene.tif"), labels = at("train.tif"),
      arch = { { conv = 8, kernel = 1 }, "relu", { conv = 8, kernel = 3 }, "relu", "gap" },
      patch = 5, epochs = 3, batch = 16, augment = true, seed = 2 }
    assert.equal("patch", model:meta("input"))
    assert.equal("5", model:meta("patch"))
    assert.equal("5", model:meta("receptive_field"))
    assert.equal("6", model:meta("bands"))
    assert(cn.classify { model = model, image = at("scene.tif"), output = at("lua_map.tif") })
    local r = cn.evaluate(at("lua_map.tif"), at("test.tif"))
    assert.is_true(r.oa > 0)
  end)

  it("refuses a patch side for a per-pixel network", function()
    assert.matches("--patch needs a patch network", err_of(cn.train, { image = at("scene.tif"),
      labels = at("train.tif"), arch = "mlp", patch = 5, epochs = 1 }), 1, true)
  end)
end)

describe("cropnet train --arch cnn", function()
  it("trains a patch model that cropnet classify maps, identical with any tile size", function()
    ok(clitest.run("train", at("scene.tif"), "--labels", at("train.tif"), "-o", at("cnn.cropnet"),
      "--arch", "cnn", "--patch", "5", "--epochs", "2", "-q"))
    local info = ok(clitest.run("info", at("cnn.cropnet"))).stdout
    assert.matches("input: patch", info, 1, true)
    assert.matches("patch: 5", info, 1, true)
    ok(clitest.run("classify", at("scene.tif"), at("cnn.cropnet"), "-o", at("whole.tif"), "-q"))
    ok(clitest.run("classify", at("scene.tif"), at("cnn.cropnet"), "-o", at("tiled.tif"), "--tile", "7", "-q"))
    local function pixels(p)
      local r <close> = assert(cn.raster.open(p))
      return r:read_labels(0, 0, 64, 48):totable()
    end
    assert.same(pixels(at("whole.tif")), pixels(at("tiled.tif")))
  end)

  it("takes a JSON layer list, and --augment", function()
    ok(clitest.run("train", at("scene.tif"), "--labels", at("train.tif"), "-o", at("json.cropnet"),
      "--arch", '[{"conv": 4, "kernel": 3}, "relu", "flatten"]', "--patch", "3", "--epochs", "1",
      "--augment", "-q"))
    assert.equal("3", assert(cn.load(at("json.cropnet"))):meta("patch"))
  end)

  for _, case in ipairs {
    { "an even patch", { "--arch", "cnn", "--patch", "4" }, "--patch must be odd" },
    { "a patch for a per-pixel network", { "--arch", "mlp", "--patch", "5" }, "--patch needs a patch network" },
    { "bad JSON", { "--arch", '[{"conv": 4,]' }, "not valid JSON" },
    { "a kernel larger than the patch", { "--arch", '[{"conv": 4, "kernel": 9}]', "--patch", "5" },
      "does not fit its input (6 x 5 x 5)" },
  } do
    it("refuses " .. case[1] .. " in one line and writes no model", function()
      local out = at("refused.cropnet")
      local r = clitest.run("train", at("scene.tif"), "--labels", at("train.tif"), "-o", out, "-q",
        table.unpack(case[2]))
      clitest.assert_refused(r, case[3], out)
    end)
  end
end)
