-- conv_spec: the convolutional-network layers from Lua — Torch's constructors and argument
-- orders, the table form, output sizes and the refusals, gradients against finite differences
-- taken from Lua, training and evaluation modes, and a CNN through cn.model / cn.load.
local cn = require "cropnet"
local nn = cn.nn

local function close_to(expected, actual, tol)
  assert(math.abs(expected - actual) <= (tol or 1e-5),
    ("expected %.7g, got %.7g"):format(expected, actual))
end

-- flat list of a tensor's values
local function values(t)
  local out = {}
  local function walk(v)
    if type(v) == "table" then for _, w in ipairs(v) do walk(w) end else out[#out + 1] = v end
  end
  walk(t:totable())
  return out
end

describe("nn.SpatialConvolution", function()
  it("takes Torch's positional arguments, width before height", function()
    local c = nn.SpatialConvolution(3, 8, 5, 3, 1, 1, 2, 1) -- kW 5, kH 3, padW 2, padH 1
    assert.same({ 8, 3, 3, 5 }, { c.weight:size() })
    assert.same({ 2, 8, 11, 11 }, { c:forward(cn.zeros(2, 3, 11, 11)):size() })
  end)

  it("takes a table in tensor order, like PyTorch", function()
    local c = nn.SpatialConvolution { in_channels = 3, out_channels = 4, kernel = { 3, 1 },
                                      stride = 2, padding = { 1, 0 }, dilation = 1 }
    assert.same({ 4, 3, 3, 1 }, { c.weight:size() })
    -- (9 - 3 + 2)/2 + 1 rows, (9 - 1)/2 + 1 columns
    assert.same({ 1, 4, 5, 5 }, { c:forward(cn.zeros(1, 3, 9, 9)):size() })
  end)

  it("computes the convolution of its definition", function()
    cn.manual_seed(1)
    local c = nn.SpatialConvolution(2, 1, 2, 2)
    c.bias:set(1, 0.25)
    local x = cn.randn(1, 2, 3, 3)
    local y = c:forward(x)
    local w = c.weight:totable()
    for i = 1, 2 do
      for j = 1, 2 do
        local s = 0.25
        for ch = 1, 2 do
          for a = 1, 2 do
            for b = 1, 2 do s = s + w[1][ch][a][b] * x:get(1, ch, i + a - 1, j + b - 1) end
          end
        end
        close_to(s, y:get(1, 1, i, j))
      end
    end
  end)

  it("refuses a stride that does not fit, with the formula's numbers", function()
    local c = nn.SpatialConvolution { ["in"] = 1, out = 1, kernel = 3, stride = 2 }
    assert.error_matches(function() c:forward(cn.zeros(1, 1, 10, 9)) end,
      "%(10 %- 3 %+ 2%*0%) / 2 %+ 1 = 7/2 %+ 1 is not a whole number")
  end)

  it("floors the output size when made with floor = true", function()
    local c = nn.SpatialConvolution { ["in"] = 1, out = 1, kernel = 3, stride = 2, floor = true }
    assert.same({ 1, 1, 4, 4 }, { c:forward(cn.zeros(1, 1, 10, 9)):size() })
  end)

  it("refuses an input smaller than its kernel in Torch's words", function()
    local c = nn.SpatialConvolution(3, 64, 5)
    assert.error_matches(function() c:forward(cn.zeros(1, 3, 4, 4)) end,
      "Given input size: %(3 x 4 x 4%)%. Calculated output size: %(64 x 0 x 0%)%. "
      .. "Output size is too small")
  end)

  it("refuses bad arguments", function()
    assert.error_matches(function() nn.SpatialConvolution(0, 3, 3) end, "bad argument #1")
    assert.error_matches(function() nn.SpatialConvolution { ["in"] = 1, out = 1 } end,
      "missing field 'kernel'")
    assert.error_matches(function()
      nn.SpatialConvolution { ["in"] = 1, out = 1, kernel = { 3 } }
    end, "bad field 'kernel'")
  end)
end)

describe("nn.VolumetricConvolution", function()
  it("convolves over bands, rows and columns", function()
    local c = nn.VolumetricConvolution(1, 8, 7, 3, 3) -- kT 7 over the bands
    assert.same({ 8, 1, 7, 3, 3 }, { c.weight:size() })
    assert.same({ 2, 8, 24, 23, 23 }, { c:forward(cn.zeros(2, 1, 30, 25, 25)):size() })
  end)
end)

describe("pooling", function()
  it("uses Torch's default strides", function()
    local x = cn.zeros(1, 1, 8, 8)
    assert.same({ 1, 1, 4, 4 }, { nn.SpatialMaxPooling(2):forward(x):size() })
    assert.same({ 1, 1, 7, 7 }, { nn.SpatialAveragePooling(2):forward(x):size() })
  end)

  it("takes the largest value of each window", function()
    local x = cn.tensor { { { { 1, 5, 2, 0 }, { 3, 4, 8, 1 } } } }
    assert.same({ 5, 8 }, values(nn.SpatialMaxPooling(2, 2):forward(x)))
  end)

  it("floors like Torch when asked", function()
    local p = nn.SpatialMaxPooling { kernel = 2, floor = true }
    assert.same({ 3, 64, 4, 4 }, { p:forward(cn.zeros(3, 64, 9, 9)):size() })
    assert.error_matches(function() nn.SpatialMaxPooling(2):forward(cn.zeros(3, 64, 9, 9)) end,
      "max_pool2d: stride 2 does not fit the height")
  end)

  it("averages each plane globally", function()
    local x = cn.tensor { { { { 1, 2 }, { 3, 6 } }, { { 0, 0 }, { 0, 4 } } } }
    assert.same({ 3, 1 }, values(nn.GlobalAveragePooling():forward(x)))
  end)
end)

describe("nn.View and nn.Flatten", function()
  it("fold the band axis into channels and flatten per sample", function()
    local x = cn.zeros(2, 4, 5, 3, 3)
    assert.same({ 2, 20, 3, 3 }, { nn.View(-1, 3, 3):forward(x):size() })
    assert.same({ 2, 180 }, { nn.Flatten():forward(x):size() })
    assert.error_matches(function() nn.View(7):forward(x) end, "cannot be viewed as %(7%)")
  end)
end)

-- L = sum(out .* r): backward's input gradient against central differences, from Lua.
describe("backward through a small CNN", function()
  it("matches finite differences", function()
    cn.manual_seed(5)
    local net = nn.Sequential {
      nn.SpatialConvolution(2, 3, 3, 3, 1, 1, 1, 1), nn.Tanh(),
      nn.SpatialConvolution(3, 4, 1, 1), nn.SpatialAveragePooling(2, 2, 2, 2),
      nn.BatchNormalization(4), nn.Flatten(), nn.Linear(16, 3),
    }
    local x, r = cn.randn(3, 2, 4, 4), cn.randn(3, 3)
    local function loss()
      local y, s = net:forward(x), 0
      for i = 1, 3 do for j = 1, 3 do s = s + y:get(i, j) * r:get(i, j) end end
      return s
    end
    net:zeroGradParameters()
    net:forward(x)
    local gx = net:backward(x, r):clone()
    local eps = 1e-2
    for n = 1, 3 do
      for c = 1, 2 do
        for i = 1, 4, 3 do
          for j = 1, 4 do
            local v = x:get(n, c, i, j)
            x:set(n, c, i, j, v + eps)
            local up = loss()
            x:set(n, c, i, j, v - eps)
            local down = loss()
            x:set(n, c, i, j, v)
            close_to((up - down) / (2 * eps), gx:get(n, c, i, j), 2e-2)
          end
        end
      end
    end
  end)
end)

describe("modes", function()
  it("start in training mode and switch recursively", function()
    local d = nn.Dropout(0.5)
    local net = nn.Sequential { nn.Linear(4, 4), d }
    assert.is_true(net.train and d.train)
    assert.equal(net, net:evaluate())
    assert.is_false(d.train)
    net:training()
    assert.is_true(d.train)
  end)

  it("make dropout the identity in evaluation mode", function()
    local d = nn.Dropout(0.5)
    local x = cn.randn(10, 10)
    local y = d:forward(x)
    local zeros = 0
    for _, v in ipairs(values(y)) do if v == 0 then zeros = zeros + 1 end end
    assert.is_true(zeros > 20 and zeros < 80)
    assert.same(x:totable(), d:evaluate():forward(x):totable())
  end)

  it("make batch normalisation use its running statistics", function()
    local b = nn.BatchNormalization(2)
    b:forward(cn.tensor { { 1, 10 }, { 3, 30 } })
    close_to(0.2, b.running_mean:get(1))
    close_to(2.0, b.running_mean:get(2))
    b:evaluate()
    local y = b:forward(cn.tensor { { 0.2, 2 } })
    close_to(0, y:get(1, 1), 1e-4)
    close_to(0, y:get(1, 2), 1e-4)
  end)
end)

describe("nn.ResidualBlock", function()
  it("adds its input to the inner branch", function()
    cn.manual_seed(2)
    local block = nn.ResidualBlock { nn.SpatialConvolution(2, 2, 3, 3, 1, 1, 1, 1), nn.ReLU() }
    local x = cn.randn(1, 2, 3, 3)
    local inner = block.inner:forward(x):clone()
    local y = block:forward(x)
    for i = 1, 3 do close_to(inner:get(1, 2, i, 2) + x:get(1, 2, i, 2), y:get(1, 2, i, 2)) end
    assert.is_nil(block.projection)
  end)

  it("projects the shortcut when the inner branch changes the size", function()
    local block = nn.ResidualBlock(nn.SpatialConvolution(4, 8, 3, 3, 2, 2, 1, 1),
                                   nn.SpatialConvolution(4, 8, 1, 1, 2, 2))
    assert.same({ 2, 8, 5, 5 }, { block:forward(cn.zeros(2, 4, 9, 9)):size() })
    assert.matches("projection: nn.SpatialConvolution", tostring(block))
  end)

  it("names both branch sizes when they differ", function()
    local block = nn.ResidualBlock(nn.SpatialConvolution(4, 8, 3))
    assert.error_matches(function() block:forward(cn.zeros(1, 4, 5, 5)) end,
      "inner output %(1 x 8 x 3 x 3%) and shortcut output %(1 x 4 x 5 x 5%) differ")
  end)
end)

describe("a CNN in a model file", function()
  it("predicts the same after cn.load, in evaluation mode", function()
    cn.manual_seed(8)
    local net = nn.Sequential {
      nn.SpatialConvolution(5, 4, 1, 1), nn.SpatialBatchNormalization(4), nn.ReLU(),
      nn.ResidualBlock({ nn.SpatialConvolution(4, 4, 3, 3, 1, 1, 1, 1), nn.ReLU() }),
      nn.SpatialMaxPooling { kernel = 2, floor = true }, nn.Dropout(0.3), nn.Flatten(),
      nn.Linear(4 * 2 * 2, 3),
    }
    local x = cn.randn(6, 5, 5, 5)
    net:forward(x) -- a training batch moves the running statistics
    net:evaluate()
    local before = net:forward(x):totable()
    local path = os.getenv("CROPNET_TMP") .. "/conv_spec.cnm"
    assert(cn.model(net):save(path))
    local loaded = assert(cn.load(path))
    assert.is_false(loaded.net.train)
    assert.same(before, loaded:forward(x):totable())
    assert.equal(tostring(net), tostring(loaded.net))
    os.remove(path)
  end)
end)
