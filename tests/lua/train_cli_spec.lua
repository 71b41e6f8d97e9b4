-- train_cli_spec: `cropnet train` end to end on a small synthetic scene, and its refusals — each a
-- one-line "cropnet: train: ..." error naming the file, a non-zero exit and no model written.
local clitest = require "clitest"
local cn = require "cropnet"

local _, at = clitest.workdir("train_cli")
local ok = clitest.ok

setup(function()
  ok(clitest.run("synth", "-o", at("scene.tif"), "--labels", at("labels.tif"), "--width", "64",
    "--height", "48", "--bands", "8", "--classes", "3", "--seed", "2"))
  ok(clitest.run("synth", "-o", at("other.tif"), "--labels", at("other_labels.tif"), "--width", "50",
    "--height", "48", "--bands", "8", "--classes", "3", "--seed", "2"))
  ok(clitest.sh("gdal_create -q -if " .. clitest.quote(at("labels.tif")) .. " -burn 0 " .. clitest.quote(at("empty.tif"))))
end)

describe("cropnet train", function()
  it("writes a model that knows its bands, classes and normalisation", function()
    local model_path = at("ok.cropnet")
    local r = ok(clitest.run("train", at("scene.tif"), "--labels", at("labels.tif"), "-o", model_path,
      "--epochs", "5", "--arch", "mlp:16"))
    assert.matches("epoch    5/5", r.stdout, 1, true)
    local m = assert(cn.load(model_path))
    assert.equal("8", m:meta("bands"))
    assert.equal("pixel", m:meta("input"))
    assert.equal(8, m:tensor("norm.mean"):numel())
    assert.matches('"id": 1', m:meta("classes"), 1, true)
  end)

  it("refuses labels of another size, naming both", function()
    local out = at("mismatch.cropnet")
    local r = clitest.run("train", at("scene.tif"), "--labels", at("other_labels.tif"), "-o", out, "-q")
    clitest.assert_refused(r, "other_labels.tif: is 50 x 48", out)
  end)

  it("refuses a label raster without a labelled pixel", function()
    local out = at("empty.cropnet")
    local r = clitest.run("train", at("scene.tif"), "--labels", at("empty.tif"), "-o", out, "-q")
    clitest.assert_refused(r, "empty.tif", out)
  end)

  it("refuses an output folder that cannot be written, before training", function()
    local r = clitest.run("train", at("scene.tif"), "--labels", at("labels.tif"), "-o",
      at("no_such_folder/model.cropnet"), "-q")
    clitest.assert_refused(r, "no_such_folder/model.cropnet: cannot write there")
  end)

  it("refuses an output path equal to the image", function()
    local before = clitest.read(at("scene.tif"))
    local r = clitest.run("train", at("scene.tif"), "--labels", at("labels.tif"), "-o", at("scene.tif"), "-q")
    clitest.assert_refused(r, "the output path is also an input")
    assert.is_true(before == clitest.read(at("scene.tif")))
  end)

  it("refuses a missing image, naming it", function()
    local r = clitest.run("train", at("nothing.tif"), "--labels", at("labels.tif"), "-o", at("x.cropnet"), "-q")
    clitest.assert_refused(r, "nothing.tif")
  end)

  it("refuses an unknown optimizer and a bad epoch count", function()
    local r = clitest.run("train", at("scene.tif"), "--labels", at("labels.tif"), "-o", at("x.cropnet"), "--optimizer", "lbfgs")
    assert.is_true(clitest.one_line_error(r))
    r = clitest.run("train", at("scene.tif"), "--labels", at("labels.tif"), "-o", at("x.cropnet"), "--epochs", "0")
    clitest.assert_refused(r, "--epochs must be an integer in")
  end)
end)
