-- nn_spec: layers and criterions — output shapes, forward values against hand computation,
-- backward against finite differences taken from Lua, shape errors, containers.
local cn = require "cropnet"
local nn = cn.nn

local function close_to(expected, actual, tol)
  assert(math.abs(expected - actual) <= (tol or 1e-5),
    ("expected %.7g, got %.7g"):format(expected, actual))
end

local function sigmoid(x) return 1 / (1 + math.exp(-x)) end

-- activation name, constructor, reference function
local activations = {
  { "Sigmoid", nn.Sigmoid, sigmoid },
  { "Tanh", nn.Tanh, math.tanh },
  { "ReLU", nn.ReLU, function(x) return x > 0 and x or 0 end },
  { "LeakyReLU", function() return nn.LeakyReLU(0.1) end, function(x) return x > 0 and x or 0.1 * x end },
  { "ELU", function() return nn.ELU(1.5) end, function(x) return x > 0 and x or 1.5 * (math.exp(x) - 1) end },
  { "Step", nn.Step, function(x) return x > 0 and 1 or 0 end },
}

local inputs = { { -2, -0.5, 0.25 }, { 0.75, 1.5, 3 } }

describe("activations", function()
  for _, a in ipairs(activations) do
    it(a[1] .. " computes its function element-wise", function()
      local y = a[2]():forward(cn.tensor(inputs))
      for i = 1, 2 do
        for j = 1, 3 do close_to(a[3](inputs[i][j]), y:get(i, j)) end
      end
    end)
  end

  it("keep the shape of their input", function()
    assert.same({ 2, 3, 4, 5 }, { nn.Tanh():forward(cn.zeros(2, 3, 4, 5)):size() })
  end)
end)

describe("nn.Linear", function()
  it("maps N x in to N x out", function()
    assert.same({ 5, 3 }, { nn.Linear(4, 3):forward(cn.zeros(5, 4)):size() })
  end)

  it("maps a 1-D input to a 1-D output", function()
    assert.same({ 3 }, { nn.Linear(4, 3):forward(cn.zeros(4)):size() })
  end)

  it("computes x * W^T + b", function()
    local lin = nn.Linear(3, 2)
    lin.bias:set(1, 0.5)
    lin.bias:set(2, -1)
    local w, b = lin.weight:totable(), lin.bias:totable()
    local y = lin:forward(cn.tensor(inputs))
    for i = 1, 2 do
      for o = 1, 2 do
        local s = b[o]
        for k = 1, 3 do s = s + inputs[i][k] * w[o][k] end
        close_to(s, y:get(i, o))
      end
    end
  end)

  it("starts with Xavier-uniform weights and a zero bias", function()
    local lin = nn.Linear(30, 20)
    local a = math.sqrt(6 / 50)
    for _, row in ipairs(lin.weight:totable()) do
      for _, v in ipairs(row) do assert.is_true(math.abs(v) <= a) end
    end
    assert.same(cn.zeros(20):totable(), lin.bias:totable())
  end)

  it("draws the same weights after the same manual_seed", function()
    cn.manual_seed(42)
    local a = nn.Linear(3, 3).weight:totable()
    cn.manual_seed(42)
    assert.same(a, nn.Linear(3, 3).weight:totable())
  end)

  it("names both sizes in a shape error", function()
    assert.error_matches(function() nn.Linear(3, 2):forward(cn.zeros(2, 5)) end,
      "given input size %(2 x 5%), expected %(N x 3%)")
  end)

  it("refuses sizes below 1", function()
    assert.error_matches(function() nn.Linear(0, 2) end, "input size must be >= 1")
  end)

  it("refuses a gradOutput of the wrong size, naming both", function()
    local lin = nn.Linear(3, 2)
    lin:forward(cn.zeros(4, 3))
    assert.error_matches(function() lin:backward(cn.zeros(4, 3), cn.zeros(4, 5)) end,
      "gradient size %(4 x 5%) does not match output size %(4 x 2%)")
  end)

  it("refuses an input whose batch differs from gradOutput's", function()
    local lin = nn.Linear(3, 2)
    lin:forward(cn.zeros(2, 3))
    assert.error_matches(function() lin:backward(cn.zeros(9, 3), cn.zeros(2, 2)) end,
      "input %(9 x 3%) does not match gradient %(2 x 2%)")
  end)

  it("re-draws its weights with init and a seed", function()
    local a, b = nn.Linear(4, 4), nn.Linear(4, 4)
    a:init("he_normal", nil, 5)
    b:init("he_normal", nil, 5)
    assert.same(a.weight:totable(), b.weight:totable())
  end)

  it("refuses an unknown init kind", function()
    assert.error_matches(function() nn.Linear(2, 2):init("bogus") end, "expected gaussian")
  end)
end)

-- The loss L = sum(out .* R) has dL/dout = R; compare backward's gradients with central
-- differences of L. Inputs near an activation's kink are left out (the derivative jumps there).
local function loss_of(net, x, r)
  local y, s = net:forward(x), 0
  for i = 1, y:size(1) do
    for j = 1, y:size(2) do s = s + y:get(i, j) * r:get(i, j) end
  end
  return s
end

describe("backward", function()
  for _, a in ipairs(activations) do
    it("matches finite differences for Linear + " .. a[1], function()
      cn.manual_seed(3)
      local net = nn.Sequential { nn.Linear(3, 4), a[2]() }
      local x = cn.randn(5, 3)
      local r = cn.randn(5, 4)
      local pre = net:get(1):forward(x):clone()
      net:zeroGradParameters()
      net:forward(x)
      local gx = net:backward(x, r):clone()
      local gw = net:get(1).gradWeight:clone()
      local eps, tol, checked = 1e-2, 2e-2, 0
      for i = 1, 5 do
        for k = 1, 3 do
          local v = x:get(i, k)
          x:set(i, k, v + eps); local up = loss_of(net, x, r)
          x:set(i, k, v - eps); local down = loss_of(net, x, r)
          x:set(i, k, v)
          local near_kink = false
          for o = 1, 4 do if math.abs(pre:get(i, o)) < 0.1 then near_kink = true end end
          if a[1] == "Step" then
            close_to(0, gx:get(i, k), 0)
          elseif not near_kink or a[1] == "Sigmoid" or a[1] == "Tanh" then
            close_to((up - down) / (2 * eps), gx:get(i, k), tol)
            checked = checked + 1
          end
        end
      end
      local w = net:get(1).weight
      for o = 1, 4 do
        for k = 1, 3 do
          local v = w:get(o, k)
          w:set(o, k, v + eps); local up = loss_of(net, x, r)
          w:set(o, k, v - eps); local down = loss_of(net, x, r)
          w:set(o, k, v)
          if a[1] ~= "Step" then close_to((up - down) / (2 * eps), gw:get(o, k), 0.1) end
        end
      end
      assert.is_true(a[1] == "Step" or checked >= 5, "too few inputs away from the kink")
    end)
  end

  it("accumulates parameter gradients across calls", function()
    local lin = nn.Linear(2, 2)
    local x, g = cn.tensor { { 1, 2 } }, cn.tensor { { 1, -1 } }
    lin:zeroGradParameters()
    lin:forward(x)
    lin:backward(x, g)
    local once = lin.gradWeight:totable()
    lin:backward(x, g)
    local twice = lin.gradWeight:totable()
    for o = 1, 2 do for k = 1, 2 do close_to(2 * once[o][k], twice[o][k]) end end
  end)

  it("is cleared by zeroGradParameters", function()
    local lin = nn.Linear(2, 2)
    local x = cn.tensor { { 1, 2 } }
    lin:forward(x)
    lin:backward(x, cn.tensor { { 1, 1 } })
    lin:zeroGradParameters()
    assert.same({ { 0, 0 }, { 0, 0 } }, lin.gradWeight:totable())
  end)
end)

describe("module methods", function()
  it("parameters returns weights and their gradients in order", function()
    local net = nn.Sequential { nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1) }
    local params, grads = net:parameters()
    assert.equal(4, #params)
    assert.equal(4, #grads)
    assert.same({ 3, 2 }, { params[1]:size() })
    assert.same({ 1 }, { params[4]:size() })
    assert.is_true(params[1] == net:get(1).weight)
  end)

  it("updateParameters does w -= lr * dw", function()
    local lin = nn.Linear(1, 1)
    lin.weight:set(1, 1, 2)
    local x = cn.tensor { { 3 } }
    lin:zeroGradParameters()
    lin:forward(x)
    lin:backward(x, cn.tensor { { 1 } }) -- dW = 3, db = 1
    lin:updateParameters(0.5)
    close_to(0.5, lin.weight:get(1, 1))
    close_to(-0.5, lin.bias:get(1))
  end)

  it("type names the Torch class", function()
    assert.equal("nn.Linear", nn.Linear(1, 1):type())
    assert.equal("nn.LeakyReLU", nn.LeakyReLU():type())
    assert.equal("nn.Sequential", nn.Sequential():type())
  end)

  it("raises on use after close", function()
    local m = nn.ReLU()
    m:close()
    assert.has_error(function() m:forward(cn.zeros(1)) end, "attempt to use a closed layer")
  end)

  it("keeps a layer's output valid after the layer is gone", function()
    local y = nn.Linear(2, 3):forward(cn.zeros(1, 2))
    collectgarbage()
    collectgarbage()
    assert.same({ 1, 3 }, { y:size() })
  end)

  it("accepts a layer's own output as input", function()
    local lin = nn.Linear(3, 3)
    local y = lin:forward(cn.tensor { { 1, 2, 3 } })
    local expected = lin:forward(y:clone()):totable()
    lin:forward(cn.tensor { { 1, 2, 3 } })
    assert.same(expected, lin:forward(y):totable())
  end)
end)

describe("nn.Sequential", function()
  it("chains its modules", function()
    local a, b = nn.Linear(2, 3), nn.Tanh()
    local x = cn.tensor { { 0.5, -1 } }
    local expected = b:forward(a:forward(x)):totable()
    assert.same(expected, nn.Sequential { a, b }:forward(x):totable())
  end)

  it("counts its modules with size and #", function()
    local seq = nn.Sequential():add(nn.Linear(2, 2)):add(nn.ReLU())
    assert.equal(2, seq:size())
    assert.equal(2, #seq)
  end)

  it("gives back a module with get(i)", function()
    local lin = nn.Linear(2, 2)
    local seq = nn.Sequential { nn.ReLU(), lin }
    assert.is_true(seq:get(2) == lin)
    assert.error_matches(function() seq:get(3) end, "out of range 1..2")
  end)

  it("keeps its children alive when their handles are closed", function()
    local lin = nn.Linear(2, 2)
    local seq = nn.Sequential { lin }
    lin:close()
    collectgarbage()
    assert.same({ 1, 2 }, { seq:forward(cn.zeros(1, 2)):size() })
  end)

  it("refuses to back-propagate after a child ran alone on another batch", function()
    -- backward belongs to the forward just run; a child's own forward in between replaced the
    -- buffers the container reads, which the core detects instead of reading past them
    local l1, l2 = nn.Linear(3, 3), nn.Linear(3, 2)
    local seq = nn.Sequential { l1, l2 }
    local x, g = cn.tensor { { 1, 2, 3 }, { -1, 0, 1 } }, cn.tensor { { 1, 0 }, { 0, 1 } }
    seq:forward(x)
    l1:forward(cn.zeros(50, 3))
    assert.error_matches(function() seq:backward(x, g) end, "does not match")
    seq:forward(x)
    assert.same({ 2, 3 }, { seq:backward(x, g):size() })
  end)

  it("lists its structure in tostring", function()
    local s = tostring(nn.Sequential { nn.Linear(2, 8), nn.ReLU(), nn.Sequential { nn.Linear(8, 2) } })
    assert.matches("nn.Sequential {", s, 1, true)
    assert.matches("(1): nn.Linear(2 -> 8)", s, 1, true)
    assert.matches("(2): nn.ReLU", s, 1, true)
    assert.matches("(1): nn.Linear(8 -> 2)", s, 1, true)
  end)

  it("refuses to contain itself", function()
    local seq = nn.Sequential()
    assert.has_error(function() seq:add(seq) end)
  end)

  it("refuses add on a layer that is not a container", function()
    assert.error_matches(function() nn.ReLU():add(nn.ReLU()) end, "not a container")
  end)
end)

describe("criterions", function()
  it("MSECriterion is the mean squared error", function()
    close_to((1 + 4 + 0 + 9) / 4, nn.MSECriterion():forward(cn.tensor { { 1, 2 }, { 3, 4 } },
      cn.tensor { { 0, 0 }, { 3, 1 } }))
  end)

  it("MSECriterion's gradient is 2(x - t)/n", function()
    local g = nn.MSECriterion():backward(cn.tensor { 1, 2 }, cn.tensor { 0, 0 })
    close_to(1, g:get(1))
    close_to(2, g:get(2))
  end)

  it("CrossEntropyCriterion takes 1-based class ids", function()
    local x = { { 1, 2, 3 }, { 0, 0, 0 } }
    local lse1 = math.log(math.exp(1) + math.exp(2) + math.exp(3))
    local expected = ((lse1 - 3) + math.log(3)) / 2
    close_to(expected, nn.CrossEntropyCriterion():forward(cn.tensor(x), { 3, 1 }))
    close_to(expected, nn.CrossEntropyCriterion():forward(cn.tensor(x), cn.tensor { 3, 1 }))
  end)

  it("CrossEntropyCriterion's gradient is (softmax - onehot)/N", function()
    local g = nn.CrossEntropyCriterion():backward(cn.tensor { { 0, 0 } }, { 2 })
    close_to(0.5, g:get(1, 1))
    close_to(-0.5, g:get(1, 2))
  end)

  it("CrossEntropyCriterion refuses a class id outside 1..K", function()
    assert.error_matches(function()
      nn.CrossEntropyCriterion():forward(cn.zeros(2, 3), { 1, 4 })
    end, "not an integer in 1..3")
    assert.error_matches(function()
      nn.CrossEntropyCriterion():forward(cn.zeros(2, 3), { 0, 1 })
    end, "not an integer in 1..3")
  end)

  it("BCECriterion is the mean binary cross-entropy", function()
    local expected = -(math.log(0.8) + math.log(1 - 0.4)) / 2
    close_to(expected, nn.BCECriterion():forward(cn.tensor { 0.8, 0.4 }, { 1, 0 }))
  end)

  it("PerceptronCriterion charges only misclassified scores", function()
    close_to((0 + 2) / 2, nn.PerceptronCriterion():forward(cn.tensor { { 3 }, { 2 } }, { 1, 0 }))
  end)

  it("names both sizes when input and target differ", function()
    assert.error_matches(function() nn.MSECriterion():forward(cn.zeros(2, 2), cn.zeros(3)) end,
      "given input %(2 x 2%) and target %(3%)")
  end)
end)
