-- cropnet demo [--data DIR] [--out DIR]: the main job on the embedded default (a synthetic field
-- scene) or on SalinasA: split, train a per-pixel MLP, classify the scene, evaluate on the test
-- split; prints the metrics and the output paths.
local cli = require "cropnet.cli"

local demo = {}

demo.help = [[
usage: cropnet demo [--data DIR] [--out DIR] [--seed S] [--epochs E]

The main job end to end: a scene and its ground truth, a stratified 5% training split, a per-pixel
MLP, the crop map (GeoTIFF with colour table and class names) and its accuracy on the test split.
Without --data it runs on the embedded default, a synthetic field scene (cropnet synth); with
--data DIR, on SalinasA (SalinasA_corrected.mat and SalinasA_gt.mat in DIR or DIR/hsi, imported
with cropnet import). Outputs go to --out (default ./cropnet-demo).]]

function demo.run(args)
  local opts, pos = cli.parse("demo", args, { ["--data"] = "value", ["--out"] = "value",
                                              ["--seed"] = "value", ["--epochs"] = "value" })
  if #pos > 0 then cli.fail("demo", "unexpected argument '" .. pos[1] .. "'") end
  local out = opts.out or "cropnet-demo"
  if not os.rename(out, out) then
    local ok = os.execute("mkdir -p " .. string.format("%q", out))
    if not ok then cli.fail("demo", out .. ": cannot create the output folder") end
  end
  local job = require "cropnet.demo"
  local ok, result = pcall(job.run, {
    out = out, data = opts.data,
    seed = cli.number("demo", opts, "seed", 1, 0, math.maxinteger, true),
    epochs = cli.number("demo", opts, "epochs", nil, 1, 1e6, true),
    report = function(line) io.stdout:write("-- ", line, "\n") io.stdout:flush() end,
  })
  if not ok then cli.fail("demo", result) end
  local r = result.metrics
  io.stdout:write(string.format("\noverall accuracy %.4f   average accuracy %.4f   kappa %.4f\n",
    r.oa, r.aa, r.kappa))
  io.stdout:write(string.format("%-32s %9s %9s %9s %8s\n", "class", "precision", "recall", "F1", "support"))
  for _, c in ipairs(r.classes) do
    io.stdout:write(string.format("%-32s %9.4f %9.4f %9.4f %8d\n", string.format("%d %s", c.id, c.name or ""),
      c.precision, c.recall, c.f1, c.support))
  end
  io.stdout:write("\n")
  for _, k in ipairs { "image", "labels", "train", "test", "model", "map" } do
    io.stdout:write(string.format("%-7s %s\n", k, result.files[k]))
  end
  return 0
end

return demo
