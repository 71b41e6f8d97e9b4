-- cropnet demo: the main job on the embedded default. For now the lecture's models (logistic
-- regression, the perceptron, an MLP) on generated data, from samples/lecture_models.lua.
local cli = require "cropnet.cli"

local demo = {}

demo.help = [[
usage: cropnet demo

Trains a logistic regression, a perceptron and a multilayer perceptron on generated data
(two Gaussian blobs; a three-arm spiral that no linear model separates) and prints each model's
accuracy. Runs samples/lecture_models.lua.]]

function demo.run(args)
  local _, pos = cli.parse("demo", args, {})
  if #pos > 0 then cli.fail("demo", "unexpected argument '" .. pos[1] .. "'") end
  local path = cli.samples_dir() .. "/lecture_models.lua"
  local chunk, err = loadfile(path)
  if not chunk then cli.fail("demo", err) end
  chunk()
  return 0
end

return demo
