-- cropnet train IMAGE --labels TRAIN.tif -o MODEL [...]: trains a per-pixel or patch classifier
-- on the labelled pixels of a label raster (or of a vector file with --field) and saves the model.
local cli = require "cropnet.cli"

local train = {}

train.help = [[
usage: cropnet train IMAGE --labels LABELS -o MODEL [options]

Trains a classifier on the pixels of IMAGE labelled in LABELS (a label raster on the image's grid,
0 = unlabelled; or a vector file of polygons or points with --field) and writes MODEL. The model
keeps the band count, the class ids, names and colours, and the per-band normalisation of the
training pixels. A patch network (--arch cnn, or a layer list with convolutions) classifies each
pixel from the P x P patch centred on it (reflected at the image's edges); the model keeps P.

options:
  --labels PATH        label raster, or vector file (GeoJSON, Shapefile, GeoPackage) with --field
  --field NAME         the class field of a vector file (integer or text)
  -o, --output MODEL   the model file to write
  --arch SPEC          mlp (default: bands-256-128-classes, ReLU), mlp:H1,H2[/activation], linear,
                       cnn (a spectral-spatial residual CNN), or a JSON layer list (the text, or a
                       .json file) as in docs/arch.md, e.g. '[{"conv": 32, "kernel": 1}, "relu",
                       {"conv": 64, "kernel": 3}, "relu", "gap"]'
  --patch P            patch side of a patch network, odd (default 9)
  --augment            train on patches turned by random flips and 90-degree rotations
  --epochs E           passes over the training pixels (default 100, patch networks 30; a
                       patch network's learning rate decays by 0.9 per epoch)
  --batch B            mini-batch size (default 64)
  --optimizer NAME     sgd, momentum, nesterov, rmsprop, adam (default adam)
  --lr LR              learning rate (default: the optimizer's, adam 1e-3)
  --seed S             initialisation and shuffling seed (default 1)
  --threads T          BLAS threads (default 1; the same seed and threads give the same model)
  -q, --quiet          no per-epoch report]]

local spec = {
  ["--labels"] = "value", ["--field"] = "value", ["-o"] = "value", ["--output"] = "value",
  ["--arch"] = "value", ["--epochs"] = "value", ["--batch"] = "value", ["--optimizer"] = "value",
  ["--lr"] = "value", ["--seed"] = "value", ["--threads"] = "value", ["-q"] = "flag",
  ["--quiet"] = "flag", ["--patch"] = "value", ["--augment"] = "flag",
}

-- Fails early when MODEL could not be written, so a long training is not lost at the end.
local function check_writable(path, image, labels)
  if path == image or path == labels then
    cli.fail("train", path .. ": the output path is also an input")
  end
  local probe = path .. ".cropnet-probe"
  local f, err = io.open(probe, "wb")
  if not f then cli.fail("train", path .. ": cannot write there: " .. (err:match(": (.*)$") or err)) end
  f:close()
  os.remove(probe)
end

function train.run(args)
  local opts, pos = cli.parse("train", args, spec)
  if #pos ~= 1 then cli.fail("train", "expected one IMAGE (usage: cropnet train IMAGE --labels LABELS -o MODEL)") end
  local output = opts.output or opts.o
  if not opts.labels then cli.fail("train", "--labels is required") end
  if not output then cli.fail("train", "-o MODEL is required") end
  local image = pos[1]
  check_writable(output, image, opts.labels)
  local ok, is_patch = pcall(function() return require("cropnet.arch").is_patch(opts.arch) end)
  if not ok then cli.fail("train", is_patch) end
  -- patch networks: 30 epochs with a decaying learning rate (cropnet.arch.PATCH_TRAINING)
  local epochs = cli.number("train", opts, "epochs", is_patch and 30 or 100, 1, 1e6, true)
  local batch = cli.number("train", opts, "batch", 64, 1, 1 << 24, true)
  local seed = cli.number("train", opts, "seed", 1, 0, math.maxinteger, true)
  local threads = cli.number("train", opts, "threads", 1, 1, 256, true)
  local lr = cli.number("train", opts, "lr", nil, 0, 1e6, false)
  local patch = cli.number("train", opts, "patch", nil, 1, 255, true)
  if patch and patch % 2 == 0 then cli.fail("train", "--patch must be odd (a patch is centred on its pixel), given " .. patch) end
  local cn = require "cropnet"
  local name = opts.optimizer or "adam"
  if not cn.optim[name] then
    cli.fail("train", "--optimizer must be sgd, momentum, nesterov, rmsprop or adam (given '" .. name .. "')")
  end
  local optimizer = cn.optim[name](lr and { learningRate = lr } or {})
  cn.set_threads(threads)
  local quiet = opts.q or opts.quiet
  local every = math.max(1, epochs // 20)
  local ok, model, stats = pcall(cn.train, {
    image = image, labels = opts.labels, field = opts.field, arch = opts.arch, patch = patch,
    augment = opts.augment or nil, epochs = epochs,
    batch = batch, seed = seed, optimizer = optimizer,
    on_epoch = not quiet and function(e, s)
      if e % every == 0 or e == epochs or e == 1 then
        io.stdout:write(string.format("epoch %4d/%d  loss %.4f  accuracy %.4f  (%.2f s)\n",
          e, epochs, s.loss, s.accuracy or 0, s.seconds))
        io.stdout:flush()
      end
    end or nil,
  })
  if not ok then cli.fail("train", model) end
  local saved, err = model:save(output)
  if not saved then cli.fail("train", err) end
  if not quiet then
    io.stdout:write(string.format("%s: %s pixels, %d bands, training accuracy %.4f\n", output,
      model:meta("training_pixels"), tonumber(model:meta("bands")), stats.accuracy or 0))
  end
  return 0
end

return train
