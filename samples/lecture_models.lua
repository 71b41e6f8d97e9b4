-- lecture_models.lua: the three models of the dense-network lecture, trained from Lua —
-- a logistic regression and a perceptron on two separable blobs, and an MLP on the three-arm
-- spiral no linear model can separate. Prints the training accuracy of each.
--
-- Run: lua5.4 samples/lecture_models.lua   (LUA_PATH / LUA_CPATH pointing at the project)
--  or: ./build/cropnet run samples/lecture_models.lua
local cn = require "cropnet"
local nn, optim = cn.nn, cn.optim

cn.manual_seed(1) -- fixes the data and the initial weights: the printed figures are reproducible

-- Two Gaussian blobs around (1.5, 1.5) and (-1.5, -1.5), labelled 0 and 1.
local function blobs(n)
  local noise, x, bits = cn.randn(n, 2), {}, {}
  for i = 1, n do
    local c = i % 2
    local centre = c == 1 and 1.5 or -1.5
    x[i] = { centre + 0.5 * noise:get(i, 1), centre + 0.5 * noise:get(i, 2) }
    bits[i] = c
  end
  return cn.tensor(x), bits
end

-- K interleaved spiral arms of n points each (the CS231n toy set).
local function spiral(n, k)
  local noise, x, ids = cn.randn(n * k, 1), {}, {}
  for c = 0, k - 1 do
    for i = 0, n - 1 do
      local r = i / n
      local t = c * 4 + 4 * r + 0.2 * noise:get(c * n + i + 1, 1)
      x[#x + 1] = { r * math.sin(t), r * math.cos(t) }
      ids[#ids + 1] = c + 1
    end
  end
  return cn.tensor(x), ids
end

local function accuracy(predicted, wanted)
  local right = 0
  for i, v in ipairs(predicted) do if v == wanted[i] then right = right + 1 end end
  return right / #wanted
end

-- Logistic regression: a sigmoid unit fitted by binary cross-entropy.
local x, bits = blobs(200)
local _, stats = cn.train { net = nn.Sequential { nn.Linear(2, 1), nn.Sigmoid() }, inputs = x,
  targets = bits, criterion = "bce", optimizer = optim.sgd { learningRate = 0.5 }, epochs = 20,
  batch = 16, seed = 1 }
print(("logistic regression  accuracy %.3f  (loss %.4f)"):format(stats.accuracy, stats.loss))

-- Perceptron: Rosenblatt's rule is the perceptron criterion with SGD, rate 1, one sample at a
-- time; the prediction is the step of the score.
local unit = nn.Linear(2, 1)
cn.train { net = unit, inputs = x, targets = bits, criterion = "perceptron",
  optimizer = optim.sgd { learningRate = 1 }, batch = 1, epochs = 10, seed = 1 }
local fired = nn.Step():forward(unit:forward(x)):totable()
local decided = {}
for i, row in ipairs(fired) do decided[i] = row[1] end
print(("perceptron           accuracy %.3f"):format(accuracy(decided, bits)))

-- MLP on the spiral: two hidden ReLU layers, softmax cross-entropy on 1-based class ids.
local sx, sids = spiral(100, 3)
local mlp = nn.Sequential { nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3) }
local model = cn.train { net = mlp, inputs = sx, targets = sids, optimizer = optim.adam { lr = 0.01 },
  epochs = 300, batch = 32, seed = 1 }
print(("MLP on the spiral    accuracy %.3f"):format(accuracy(model:predict(sx):totable(), sids)))

-- For comparison: the best a linear softmax model does on the same spiral.
local linear = cn.train { net = nn.Linear(2, 3), inputs = sx, targets = sids,
  optimizer = optim.adam { lr = 0.05 }, epochs = 100, batch = 32, seed = 1 }
print(("linear on the spiral accuracy %.3f"):format(accuracy(linear:predict(sx):totable(), sids)))
