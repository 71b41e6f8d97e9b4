-- model_spec: cn.model, model:save and cn.load — a saved model predicts exactly as before, and a
-- missing, truncated or foreign file gives nil and a message naming it instead of an error.
local cn = require "cropnet"
local clitest = require "clitest"
local nn = cn.nn

local dir = os.getenv("CROPNET_TMP")
local function tmpname(name)
  if dir then return dir .. "/model_spec_" .. name end
  return os.tmpname()
end

local write = clitest.write

local read = clitest.read

local function mlp()
  cn.manual_seed(21)
  return nn.Sequential { nn.Linear(3, 5), nn.ELU(0.5), nn.Linear(5, 4), nn.LeakyReLU(0.2) }
end

local x = cn.tensor { { 0.1, -0.2, 0.3 }, { 1, 2, -3 }, { -1, 0.5, 0.25 } }

describe("models", function()
  it("predict the same classes after save and load", function()
    local path = tmpname("same.cropnet")
    local model = cn.model(mlp())
    assert.is_true(model:save(path))
    local loaded = assert(cn.load(path))
    assert.same(model:predict(x):totable(), loaded:predict(x):totable())
  end)

  it("give identical scores after save and load", function()
    local path = tmpname("scores.cropnet")
    local model = cn.model(mlp())
    assert(model:save(path))
    assert.same(model:forward(x):totable(), assert(cn.load(path)):forward(x):totable())
  end)

  it("keep the architecture through save and load", function()
    local path = tmpname("arch.cropnet")
    local net = mlp()
    assert(cn.model(net):save(path))
    assert.equal(tostring(net), tostring(assert(cn.load(path)).net))
  end)

  it("keep their metadata through save and load", function()
    local path = tmpname("meta.cropnet")
    local model = cn.model(mlp(), { crop = "maize", bands = "4" })
    model:set_meta("note", "field 7")
    assert(model:save(path))
    local loaded = assert(cn.load(path))
    assert.equal("maize", loaded:meta("crop"))
    assert.equal("field 7", loaded:meta("note"))
    local all = loaded:meta()
    assert.equal("4", all.bands)
  end)

  it("predict 1-based class ids", function()
    local model = cn.model(nn.Linear(2, 3))
    local ids = model:predict(cn.tensor { { 1, 0 }, { 0, 1 } }):totable()
    for _, id in ipairs(ids) do assert.is_true(id >= 1 and id <= 3) end
  end)

  it("expose their net", function()
    local net = mlp()
    assert.is_true(cn.model(net).net == net)
  end)

  it("refuse a reserved metadata key", function()
    assert.has_error(function() cn.model(mlp(), { ["cropnet.version"] = "9" }) end)
  end)

  it("refuse metadata values that are not strings", function()
    assert.error_matches(function() cn.model(mlp(), { bands = 4 }) end, "must be strings")
  end)

  it("raise on use after close", function()
    local model = cn.model(mlp())
    model:close()
    assert.has_error(function() model:predict(x) end, "attempt to use a closed model")
  end)
end)

describe("cn.load", function()
  it("returns nil and a message naming a missing file", function()
    local path = tmpname("does-not-exist.cropnet")
    os.remove(path)
    local model, msg = cn.load(path)
    assert.is_nil(model)
    assert.matches(path, msg, 1, true)
  end)

  it("returns nil and a message for a truncated file", function()
    local good, bad = tmpname("whole.cropnet"), tmpname("truncated.cropnet")
    assert(cn.model(mlp()):save(good))
    local bytes = read(good)
    write(bad, bytes:sub(1, #bytes - 10))
    local model, msg = cn.load(bad)
    assert.is_nil(model)
    assert.matches(bad, msg, 1, true)
  end)

  it("returns nil and a message for random garbage", function()
    local path = tmpname("garbage.cropnet")
    local bytes = {}
    math.randomseed(3)
    for i = 1, 4096 do bytes[i] = string.char(math.random(0, 255)) end
    write(path, table.concat(bytes))
    local model, msg = cn.load(path)
    assert.is_nil(model)
    assert.matches(path, msg, 1, true)
  end)

  it("returns nil and a message when saving into a missing folder", function()
    local path = tmpname("no-such-dir") .. "/x/model.cropnet"
    local ok, msg = cn.model(mlp()):save(path)
    assert.is_nil(ok)
    assert.matches(path, msg, 1, true)
  end)
end)

describe("model tensors", function()
  it("keeps extra tensors such as normalisation statistics across save and load", function()
    local m = cn.model(mlp())
    m:set_tensor("norm.mean", cn.tensor { 1, 2, 3 })
    local path = tmpname("tensors.cropnet")
    assert(m:save(path))
    local back = assert(cn.load(path))
    assert.same({ 1, 2, 3 }, back:tensor("norm.mean"):totable())
    assert.is_nil(back:tensor("norm.std"))
  end)
end)
