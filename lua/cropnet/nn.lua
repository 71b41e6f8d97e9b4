-- cropnet.nn: layer and criterion constructors with Torch's names (nn.Linear, nn.ReLU,
-- nn.Sequential, nn.CrossEntropyCriterion, ...).
--
-- The layers themselves live in C (cropnet.core); this file only names them, so a network
-- written for Torch's nn reads the same here.
local core = require "cropnet.core"

local nn = {}

-- Linear(inputSize, outputSize): weights drawn Xavier-uniform from the global generator
-- (cn.manual_seed), bias zero.
nn.Linear = core.Linear

function nn.Sigmoid() return core.activation("sigmoid") end
function nn.Tanh() return core.activation("tanh") end
function nn.ReLU() return core.activation("relu") end
function nn.Step() return core.activation("step") end
-- LeakyReLU(negval = 0.01), as Torch's nn.LeakyReLU
function nn.LeakyReLU(slope) return core.activation("leaky_relu", slope) end
-- ELU(alpha = 1)
function nn.ELU(alpha) return core.activation("elu", alpha) end

-- Sequential() or Sequential{m1, m2, ...}; add more with :add(m), which returns the container.
function nn.Sequential(modules)
  local seq = core.Sequential()
  if modules ~= nil then
    if type(modules) ~= "table" then
      error("bad argument #1 to 'Sequential' (table of modules expected, got " .. type(modules) .. ")", 2)
    end
    for i = 1, #modules do
      seq:add(modules[i])
    end
  end
  return seq
end

function nn.CrossEntropyCriterion() return core.criterion("cross_entropy") end
function nn.MSECriterion() return core.criterion("mse") end
function nn.BCECriterion() return core.criterion("bce") end
-- scores N x 1 against targets 0/1: with sgd{learningRate = 1} and batch 1 it is Rosenblatt's rule
function nn.PerceptronCriterion() return core.criterion("perceptron") end

return nn
