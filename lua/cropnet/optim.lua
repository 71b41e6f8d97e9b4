-- cropnet.optim: optimizer constructors with Torch optim's configuration keys and defaults.
--
--   sgd{learningRate=1e-3, learningRateDecay=0, weightDecay=0, momentum=0, dampening=momentum,
--       nesterov=false}
--   momentum{...}  sgd with momentum = 0.9, dampening = 0 unless given
--   nesterov{...}  sgd with momentum = 0.9, dampening = 0, nesterov = true
--   rmsprop{learningRate=1e-2, alpha=0.99, epsilon=1e-8, weightDecay=0}
--   adam{learningRate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, weightDecay=0}
-- lr and weight_decay are accepted as short names; an unknown key is an error naming it.
-- Each returns an optimizer: opt:step(net) after net:backward, opt:config(), opt:learningRate().
local core = require "cropnet.core"

local optim = {}

for _, kind in ipairs { "sgd", "momentum", "nesterov", "rmsprop", "adam" } do
  optim[kind] = core[kind]
end

return optim
