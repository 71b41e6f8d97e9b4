-- residual_cnn_spec: samples/residual_cnn.lua on real data (SalinasA), for a few epochs: it
-- builds a residual CNN from Lua, reports validation accuracy each epoch, saves a patch model and
-- maps the scene.
local clitest = require "clitest"

local hsi = clitest.data_dir("hsi", "SalinasA_corrected.mat")
local ok = clitest.ok

describe("the residual CNN sample", function()
  if not hsi then
    pending("../shared/data/hsi is absent: residual CNN sample not run")
    return
  end
  it("trains with a per-epoch validation report, saves a patch model and maps the scene", function()
    local dir = clitest.tmp("residual_cnn")
    local r = ok(clitest.run("run", clitest.source .. "/samples/residual_cnn.lua", dir, hsi, "3"))
    assert.matches("epoch  3  loss [%d.]+  training accuracy [%d.]+  validation accuracy [%d.]+", r.stdout)
    assert.matches("crop map .*map.tif: overall accuracy", r.stdout)
    local cn = require "cropnet"
    local m = assert(cn.load(dir .. "/residual.cropnet"))
    assert.equal("patch", m:meta("input"))
    assert.equal("9", m:meta("patch"))
  end)
end)
