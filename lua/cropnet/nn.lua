-- cropnet.nn: layer and criterion constructors with Torch's names (nn.Linear, nn.ReLU,
-- nn.Sequential, nn.CrossEntropyCriterion, ...).
--
-- The layers themselves live in C (cropnet.core); this file only names them, so a network
-- written for Torch's nn reads the same here. The constructors are the C functions themselves,
-- so an argument error points at the caller's line.
local core = require "cropnet.core"

local nn = {}

-- Linear(inputSize, outputSize): weights drawn Xavier-uniform from the global generator
-- (cn.manual_seed), bias zero. Sigmoid(), Tanh(), ReLU(), Step(), LeakyReLU(negval = 0.01),
-- ELU(alpha = 1).
for _, name in ipairs { "Linear", "Sigmoid", "Tanh", "ReLU", "Step", "LeakyReLU", "ELU" } do
  nn[name] = core[name]
end

-- Sequential() or Sequential{m1, m2, ...}; add more with :add(m), which returns the container.
function nn.Sequential(modules)
  local seq = core.Sequential()
  if modules ~= nil then
    if type(modules) ~= "table" then
      error("bad argument #1 to 'Sequential' (table of modules expected, got " .. type(modules) .. ")", 2)
    end
    for i = 1, #modules do
      local ok, err = pcall(seq.add, seq, modules[i])
      if not ok then
        error(("bad argument #1 to 'Sequential' (module %d: %s)"):format(i, tostring(err)), 2)
      end
    end
  end
  return seq
end

-- CrossEntropyCriterion() takes 1-based class ids as targets (a tensor or a table), as Torch
-- does; MSECriterion(), BCECriterion(); PerceptronCriterion() scores N x 1 against targets 0/1:
-- with sgd{learningRate = 1} and batch 1 it is Rosenblatt's rule.
for _, name in ipairs { "CrossEntropyCriterion", "MSECriterion", "BCECriterion", "PerceptronCriterion" } do
  nn[name] = core[name]
end

return nn
