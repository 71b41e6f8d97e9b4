-- train_spec: cn.train — the lecture's models learn what they should, a seed fixes the weights,
-- and the on_epoch callback reports, stops and fails cleanly.
local cn = require "cropnet"
local nn, optim = cn.nn, cn.optim

-- Two blobs separated by the line a + b = 0: class 1 below, class 2 above.
local function blobs(n)
  cn.manual_seed(5)
  local noise = cn.randn(n, 2)
  local x, ids, bits = {}, {}, {}
  for i = 1, n do
    local c = i % 2
    local centre = c == 1 and 1.5 or -1.5
    x[i] = { centre + 0.4 * noise:get(i, 1), centre + 0.4 * noise:get(i, 2) }
    ids[i], bits[i] = c + 1, c
  end
  return cn.tensor(x), ids, bits
end

local xor_x = cn.tensor { { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } }
local xor_y = { 1, 2, 2, 1 }

local function xor_net()
  return nn.Sequential { nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2) }
end

describe("cn.train", function()
  it("fits a logistic regression to separable data", function()
    local x, _, bits = blobs(64)
    local _, stats = cn.train { net = nn.Sequential { nn.Linear(2, 1), nn.Sigmoid() }, inputs = x,
      targets = bits, criterion = "bce", optimizer = optim.sgd { lr = 0.5 }, epochs = 30, batch = 8 }
    assert.equal(1, stats.accuracy)
  end)

  it("fits a softmax regression given 1-based class ids", function()
    local x, ids = blobs(64)
    local model = cn.train { net = nn.Linear(2, 2), inputs = x, targets = ids, epochs = 30,
      batch = 8, optimizer = optim.adam { lr = 0.05 } }
    assert.same(ids, model:predict(x):totable())
  end)

  it("trains a perceptron with Rosenblatt's rule", function()
    local x, _, bits = blobs(40)
    local lin = nn.Linear(2, 1)
    local _, stats = cn.train { net = lin, inputs = x, targets = bits, criterion = "perceptron",
      optimizer = optim.sgd { learningRate = 1 }, batch = 1, epochs = 10 }
    assert.equal(1, stats.accuracy)
    local step = nn.Step():forward(lin:forward(x)):totable()
    for i = 1, 40 do assert.equal(bits[i], step[i][1]) end
  end)

  it("learns XOR with an MLP", function()
    cn.manual_seed(2)
    local model = cn.train { net = xor_net(), inputs = xor_x, targets = xor_y, epochs = 300,
      batch = 4, optimizer = optim.adam { lr = 0.05 } }
    assert.same(xor_y, model:predict(xor_x):totable())
  end)

  it("accepts a criterion object and targets as a tensor", function()
    cn.manual_seed(2)
    local _, stats = cn.train { net = xor_net(), inputs = xor_x, targets = cn.tensor(xor_y),
      criterion = nn.CrossEntropyCriterion(), epochs = 300, batch = 4, optimizer = optim.adam { lr = 0.05 } }
    assert.equal(1, stats.accuracy)
  end)

  it("gives identical weights for the same seeds", function()
    local function run()
      cn.manual_seed(9)
      local net = xor_net()
      cn.train { net = net, inputs = xor_x, targets = xor_y, epochs = 20, batch = 2, seed = 4,
        optimizer = optim.momentum { lr = 0.1 } }
      local p = net:parameters()
      local t = {}
      for i, w in ipairs(p) do t[i] = w:totable() end
      return t
    end
    assert.same(run(), run())
  end)

  it("passes the epoch number and its statistics to on_epoch", function()
    local seen = {}
    cn.train { net = xor_net(), inputs = xor_x, targets = xor_y, epochs = 3, batch = 4,
      optimizer = optim.sgd { lr = 0.1 }, on_epoch = function(e, s) seen[#seen + 1] = { e, s } end }
    assert.equal(3, #seen)
    local e, s = seen[3][1], seen[3][2]
    assert.equal(3, e)
    assert.equal(3, s.epoch)
    assert.equal(4, s.samples)
    assert.is_number(s.loss)
    assert.is_true(s.accuracy >= 0 and s.accuracy <= 1)
    assert.near(0.1, s.lr, 1e-12)
    assert.is_true(s.seconds >= 0)
  end)

  it("stops when on_epoch returns false", function()
    local calls = 0
    local _, stats = cn.train { net = xor_net(), inputs = xor_x, targets = xor_y, epochs = 10,
      on_epoch = function(e) calls = calls + 1; return e < 3 end }
    assert.equal(3, calls)
    assert.equal(3, stats.epoch)
    assert.is_true(stats.stopped)
  end)

  it("carries on when on_epoch returns true or nothing", function()
    local calls = 0
    cn.train { net = xor_net(), inputs = xor_x, targets = xor_y, epochs = 4,
      on_epoch = function(e) calls = calls + 1; if e % 2 == 0 then return true end end }
    assert.equal(4, calls)
  end)

  it("propagates an error raised in on_epoch with the callback's traceback", function()
    local ok, err = pcall(cn.train, { net = xor_net(), inputs = xor_x, targets = xor_y, epochs = 5,
      on_epoch = function(e) if e == 2 then error("epoch callback failed") end end })
    assert.is_false(ok)
    assert.matches("epoch callback failed", err, 1, true)
    assert.matches("stack traceback", err, 1, true)
    assert.matches("train_spec.lua", err, 1, true)
  end)

  it("propagates a non-string error object unchanged", function()
    local obj = { code = 7 }
    local ok, err = pcall(cn.train, { net = xor_net(), inputs = xor_x, targets = xor_y, epochs = 2,
      on_epoch = function() error(obj) end })
    assert.is_false(ok)
    assert.equal(obj, err)
  end)

  it("leaves the net and optimizer usable after a failing callback", function()
    local net, opt = xor_net(), optim.adam()
    pcall(cn.train, { net = net, optimizer = opt, inputs = xor_x, targets = xor_y, epochs = 3,
      on_epoch = function() error("stop") end })
    local model = cn.train { net = net, optimizer = opt, inputs = xor_x, targets = xor_y, epochs = 1 }
    assert.same({ 4, 2 }, { model:forward(xor_x):size() })
  end)

  it("survives a callback that closes the net, the data and the optimizer", function()
    local net, opt, x = xor_net(), optim.adam(), xor_x:clone()
    local ok, err = pcall(cn.train, { net = net, optimizer = opt, inputs = x, targets = xor_y,
      epochs = 3, on_epoch = function() net:close(); x:close(); opt:close() end })
    assert.is_false(ok)
    assert.matches("cannot close an optimizer while cn.train uses it", err, 1, true)
    collectgarbage()
    collectgarbage()
  end)

  it("keeps training when the callback closes the handles of the net and the data", function()
    local net, x = xor_net(), xor_x:clone()
    local calls = 0
    local model = cn.train { net = net, inputs = x, targets = xor_y, epochs = 3,
      on_epoch = function() calls = calls + 1; net:close(); x:close(); collectgarbage() end }
    assert.equal(3, calls)
    assert.same({ 4, 2 }, { model.net:forward(xor_x):size() })
  end)

  it("applies a step schedule to the learning rate", function()
    local lrs = {}
    cn.train { net = xor_net(), inputs = xor_x, targets = xor_y, epochs = 4,
      optimizer = optim.sgd { lr = 0.8 }, schedule = { kind = "step", step = 2, gamma = 0.5 },
      on_epoch = function(e, s) lrs[e] = s.lr end }
    assert.same({ 0.8, 0.8, 0.4, 0.4 }, lrs)
  end)

  it("applies an exponential schedule to the learning rate", function()
    local lrs = {}
    cn.train { net = xor_net(), inputs = xor_x, targets = xor_y, epochs = 3,
      optimizer = optim.sgd { lr = 1 }, schedule = { kind = "exp", gamma = 0.5 },
      on_epoch = function(e, s) lrs[e] = s.lr end }
    assert.same({ 1, 0.5, 0.25 }, lrs)
  end)

  it("raises on an unknown option, naming it", function()
    assert.error_matches(function()
      cn.train { net = xor_net(), inputs = xor_x, targets = xor_y, epoch = 3 }
    end, "unknown option 'epoch'")
  end)

  it("names the option whose table is ragged", function()
    assert.error_matches(function()
      cn.train { net = xor_net(), inputs = { { 0, 0 }, { 1 } }, targets = { 1, 2 } }
    end, "option 'inputs': ragged table")
  end)

  it("names the option of the wrong type", function()
    assert.error_matches(function()
      cn.train { net = xor_net(), inputs = xor_x, targets = xor_y, optimizer = "adam" }
    end, "option 'optimizer' must be an optimizer")
  end)

  it("raises when inputs and targets differ in sample count", function()
    assert.error_matches(function()
      cn.train { net = xor_net(), inputs = xor_x, targets = { 1, 2, 1 } }
    end, "differ in sample count")
  end)

  it("raises on a class id beyond the net's outputs", function()
    assert.error_matches(function()
      cn.train { net = xor_net(), inputs = xor_x, targets = { 1, 2, 3, 1 } }
    end, "not an integer in 1..2")
  end)
end)
