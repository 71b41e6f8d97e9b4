-- cnn_workflow_spec: the default patch CNN end to end through the command on real data —
-- SalinasA imported from its .mat files, split 5% per class (seed 1), `cropnet train --arch cnn`,
-- the crop map and its accuracy on the test split.
local clitest = require "clitest"

local hsi = clitest.data_dir("hsi", "SalinasA_corrected.mat")
local ok = clitest.ok

describe("SalinasA with the default CNN", function()
  if not hsi then
    pending("../shared/data/hsi is absent: SalinasA CNN test not run")
    return
  end
  local dir, at = clitest.workdir("cnn_workflow")

  it("reaches an overall accuracy of at least 0.99 on the 5% split", function()
    clitest.salinasA(dir) -- salinasA.tif, gt.tif, train.tif, test.tif
    ok(clitest.run("train", at("salinasA.tif"), "--labels", at("train.tif"), "-o", at("cnn.cropnet"),
      "--arch", "cnn", "--seed", "1", "-q"))
    ok(clitest.run("classify", at("salinasA.tif"), at("cnn.cropnet"), "-o", at("map.tif"), "-q"))
    local r = ok(clitest.run("eval", at("map.tif"), at("test.tif"), "--json"))
    local oa = tonumber(r.stdout:match('"oa": *([%d.]+)'))
    assert.is_true(oa >= 0.99, "overall accuracy " .. tostring(oa))
  end)

  local function labels(p)
    local cn = require "cropnet"
    local r <close> = assert(cn.raster.open(p))
    return r:read_labels():totable()
  end

  it("maps the scene in 32 x 32 tiles exactly as in one piece", function()
    ok(clitest.run("classify", at("salinasA.tif"), at("cnn.cropnet"), "-o", at("tiled.tif"),
      "--tile", "32", "-q"))
    assert.same(labels(at("map.tif")), labels(at("tiled.tif")))
  end)

  it("maps the scene the same with one thread and with two", function()
    for _, t in ipairs{"1", "2"} do
      ok(clitest.run("classify", at("salinasA.tif"), at("cnn.cropnet"), "-o", at("t" .. t .. ".tif"),
        "--threads", t, "--tile", "48", "-q"))
    end
    assert.same(labels(at("t1.tif")), labels(at("t2.tif")))
    assert.same(labels(at("map.tif")), labels(at("t1.tif")))
    local r = clitest.run("classify", at("salinasA.tif"), at("cnn.cropnet"), "-o", at("t0.tif"),
      "--threads", "0")
    assert.are_not.equal(0, r.code)
    assert.matches("threads", r.stderr)
    assert.is_false(clitest.exists(at("t0.tif")))
  end)
end)
