-- optim_spec: each optimizer decreases the loss of a fixed small problem; configuration keys,
-- aliases and Torch's defaults; bad keys raise.
local cn = require "cropnet"
local nn, optim = cn.nn, cn.optim

-- A fixed regression: y = 2a - b + 0.5 on 16 points, fitted by a 2-4-1 MLP.
local function problem()
  cn.manual_seed(11)
  local x, y = {}, {}
  for i = 1, 16 do
    local a, b = (i % 4) / 3, (i // 4) / 3
    x[i] = { a, b }
    y[i] = { 2 * a - b + 0.5 }
  end
  return nn.Sequential { nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1) }, cn.tensor(x), cn.tensor(y)
end

local function train(opt, steps)
  local net, x, y = problem()
  local crit = nn.MSECriterion()
  local first = crit:forward(net:forward(x), y)
  local last
  for _ = 1, steps do
    net:zeroGradParameters()
    local out = net:forward(x)
    last = crit:forward(out, y)
    net:backward(x, crit:backward(out, y))
    opt:step(net)
  end
  return first, last
end

describe("optimizers", function()
  local configs = {
    sgd = { learningRate = 0.1 },
    momentum = { learningRate = 0.05 },
    nesterov = { learningRate = 0.05 },
    rmsprop = { learningRate = 0.01 },
    adam = { learningRate = 0.02 },
  }
  for _, kind in ipairs { "sgd", "momentum", "nesterov", "rmsprop", "adam" } do
    it(kind .. " decreases the loss", function()
      local first, last = train(optim[kind](configs[kind]), 100)
      assert.is_true(last < 0.5 * first, ("loss %g -> %g"):format(first, last))
    end)
  end
end)

describe("optimizer configuration", function()
  it("defaults to Torch's sgd settings", function()
    local c = optim.sgd():config()
    assert.equal(1e-3, c.learningRate)
    assert.equal(0, c.momentum)
    assert.equal(0, c.weightDecay)
    assert.is_false(c.nesterov)
  end)

  it("gives momentum 0.9 and no dampening to optim.momentum", function()
    local c = optim.momentum():config()
    assert.equal(0.9, c.momentum)
    assert.equal(0, c.dampening)
    assert.is_false(c.nesterov)
  end)

  it("turns Nesterov on in optim.nesterov", function()
    local c = optim.nesterov { momentum = 0.5 }:config()
    assert.is_true(c.nesterov)
    assert.equal(0.5, c.momentum)
  end)

  it("defaults to Torch's adam settings", function()
    local c = optim.adam():config()
    assert.same({ 1e-3, 0.9, 0.999, 1e-8 }, { c.learningRate, c.beta1, c.beta2, c.epsilon })
  end)

  it("defaults to Torch's rmsprop settings", function()
    local c = optim.rmsprop():config()
    assert.same({ 1e-2, 0.99, 1e-8 }, { c.learningRate, c.alpha, c.epsilon })
  end)

  it("accepts lr and weight_decay as short names", function()
    local c = optim.adam { lr = 0.5, weight_decay = 0.01 }:config()
    assert.equal(0.5, c.learningRate)
    assert.equal(0.01, c.weightDecay)
  end)

  it("reports its learning rate", function()
    assert.equal(0.25, optim.sgd { learningRate = 0.25 }:learningRate())
  end)

  it("raises on an unknown key, naming it", function()
    assert.error_matches(function() optim.adam { learning_rate = 0.1 } end,
      "unknown option 'learning_rate'")
  end)

  it("raises on a key of another optimizer", function()
    assert.error_matches(function() optim.adam { momentum = 0.9 } end,
      "option 'momentum' does not apply")
  end)

  it("raises on a value of the wrong type", function()
    assert.error_matches(function() optim.sgd { lr = "fast" } end, "'lr' must be a number")
  end)

  it("refuses Nesterov without momentum, as Torch does", function()
    assert.error_matches(function() optim.sgd { nesterov = true } end, "Nesterov")
  end)

  it("refuses a negative learning rate", function()
    assert.has_error(function() optim.sgd { lr = -1 } end)
  end)

  it("refuses a step on a net of another shape", function()
    local opt = optim.sgd { lr = 0.1 }
    local a = nn.Linear(2, 2)
    a:zeroGradParameters()
    opt:step(a)
    assert.has_error(function() opt:step(nn.Linear(3, 3)) end)
  end)

  it("raises on use after close", function()
    local opt = optim.sgd()
    opt:close()
    assert.has_error(function() opt:config() end, "attempt to use a closed optimizer")
  end)
end)
