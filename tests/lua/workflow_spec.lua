-- workflow_spec: the main job end to end through the command, on real data — SalinasA (AVIRIS)
-- imported from its .mat files, split 5% per class (seed 1), a per-pixel MLP, the crop map and
-- its accuracy — and the Landsat-5 sample that trains from a reprojected vector file.
local clitest = require "clitest"

local hsi = clitest.data_dir("hsi", "SalinasA_corrected.mat")
local landsat = clitest.data_dir("landsat", "LT52240631988227CUB02_B1.TIF")

local ok = clitest.ok

describe("SalinasA end to end", function()
  if not hsi then
    pending("../shared/data/hsi is absent: SalinasA end-to-end test not run")
    return
  end
  local dir, at = clitest.workdir("workflow_salinas")

  it("reaches an overall accuracy of at least 0.95 on the 5% split", function()
    clitest.salinasA(dir) -- salinasA.tif, gt.tif, train.tif, test.tif
    ok(clitest.run("train", at("salinasA.tif"), "--labels", at("train.tif"), "-o", at("mlp.cropnet"), "--seed", "1", "-q"))
    ok(clitest.run("classify", at("salinasA.tif"), at("mlp.cropnet"), "-o", at("map.tif"), "-q"))
    local r = ok(clitest.run("eval", at("map.tif"), at("test.tif"), "--json"))
    local oa = tonumber(r.stdout:match('"oa": *([%d.]+)'))
    assert.is_true(oa >= 0.95, "overall accuracy " .. tostring(oa))
  end)

  it("writes a map with the input's size, colour table, class names and nodata 0", function()
    local info = clitest.gdalinfo(at("map.tif"))
    assert.matches("Size is 86, 83", info, 1, true)
    assert.matches("NoData Value=0", info, 1, true)
    assert.matches("Color Table", info, 1, true)
    assert.matches("Corn_senesced_green_weeds", info, 1, true)
  end)

  it("trains the same model twice from the same seed", function()
    ok(clitest.run("train", at("salinasA.tif"), "--labels", at("train.tif"), "-o", at("again.cropnet"), "--seed", "1", "-q"))
    assert.is_true(clitest.read(at("mlp.cropnet")) == clitest.read(at("again.cropnet")))
  end)
end)

describe("the Landsat-5 sample", function()
  if not landsat then
    pending("../shared/data/landsat is absent: Landsat sample not run")
    return
  end
  it("classifies the stacked scene from a vector training file into three named zones", function()
    local dir = clitest.tmp("workflow_landsat")
    local r = ok(clitest.run("run", clitest.source .. "/samples/landsat_zones.lua", landsat, dir))
    assert.matches("crop map: ", r.stdout, 1, true)
    local info = clitest.gdalinfo(dir .. "/landsat_map.tif")
    assert.matches("Size is 287, 310", info, 1, true)
    assert.matches("WGS 84 / UTM zone 22N", info, 1, true)
    for _, name in ipairs { "cleared", "forest", "water" } do
      assert.matches(": " .. name .. "\n", info, 1, true)
    end
  end)
end)
