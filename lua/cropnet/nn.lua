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

-- Convolutional networks (images are N x C x H x W, 3-D inputs N x C x D x H x W):
--   SpatialConvolution(nIn, nOut, kW, kH = kW, dW = 1, dH = 1, padW = 0, padH = 0) or
--     SpatialConvolution{in_channels =, out_channels =, kernel = 3 or {kh, kw}, stride =,
--     padding =, dilation =, bias = true, floor = false}; SpatialDilatedConvolution(...,
--     dilationW, dilationH)
--   VolumetricConvolution(nIn, nOut, kT, kW, kH, dT, dW, dH, padT, padW, padH) or the table form
--     with {kd, kh, kw} arrays: 3-D convolution over (bands, rows, columns)
--   SpatialMaxPooling(kW, kH = kW, dW = kW, dH = kH, padW = 0, padH = 0),
--   SpatialAveragePooling(kW, kH = kW, dW = 1, dH = 1, padW = 0, padH = 0) (Torch's defaults),
--     or {kernel =, stride = kernel, padding = 0, floor = false}
--   GlobalAveragePooling(), Flatten(), View(d1, ...) (sizes per sample, one may be -1)
--   Dropout(p = 0.5), BatchNormalization(n, eps = 1e-5, momentum = 0.1) (also named
--     SpatialBatchNormalization, VolumetricBatchNormalization)
-- A stride that does not fit its input, (N - F + 2P) not a multiple of S, is an error unless the
-- layer is made with floor = true (Torch's behaviour). Every layer has m:training() and
-- m:evaluate() (recursive) and m.train; new layers are in training mode, cn.train leaves a net in
-- evaluation mode and cn.load returns one in evaluation mode.
for _, name in ipairs { "SpatialConvolution", "SpatialDilatedConvolution", "VolumetricConvolution",
                        "SpatialMaxPooling", "SpatialAveragePooling", "GlobalAveragePooling",
                        "Flatten", "View", "Dropout", "BatchNormalization",
                        "SpatialBatchNormalization", "VolumetricBatchNormalization" } do
  nn[name] = core[name]
end

-- ResidualBlock(inner [, projection]): y = inner(x) + shortcut(x), the shortcut being the input
-- itself or projection(x) (e.g. a 1x1 SpatialConvolution with the stride of inner). inner may be
-- a module or a table of modules (made a Sequential). Put the activation after the block.
function nn.ResidualBlock(inner, projection)
  if type(inner) == "table" then
    local ok, seq = pcall(nn.Sequential, inner)
    if not ok then error(("bad argument #1 to 'ResidualBlock' (%s)"):format(tostring(seq)), 2) end
    inner = seq
  end
  local ok, block = pcall(core.ResidualBlock, inner, projection)
  if not ok then error((tostring(block):gsub("'%?'", "'ResidualBlock'")), 2) end
  return block
end

-- CrossEntropyCriterion() takes 1-based class ids as targets (a tensor or a table), as Torch
-- does; MSECriterion(), BCECriterion(); PerceptronCriterion() scores N x 1 against targets 0/1:
-- with sgd{learningRate = 1} and batch 1 it is Rosenblatt's rule.
for _, name in ipairs { "CrossEntropyCriterion", "MSECriterion", "BCECriterion", "PerceptronCriterion" } do
  nn[name] = core[name]
end

return nn
