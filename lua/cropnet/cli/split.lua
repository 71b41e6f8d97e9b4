-- cropnet split LABELS --train TRAIN.tif --test TEST.tif [...]: a stratified, seeded train/test
-- split of a label raster (or of a vector file rasterised onto an image with --field/--image).
local cli = require "cropnet.cli"

local split = {}

split.help = [[
usage: cropnet split LABELS --train TRAIN.tif --test TEST.tif
                     [--train-fraction F | --per-class N] [--seed S] [--block PIXELS] [--buffer R]
                     [--field NAME --image IMAGE] [-q]

Splits the labelled pixels of LABELS (a label raster, 0 = unlabelled) into two label rasters on
the same grid that share no pixel: TRAIN gets, from every class, a random fraction (default 0.05,
the benchmarks' 5%; rounded, at least one pixel of a class with two or more, never all of them)
or exactly N pixels; TEST gets the rest. The same seed gives the same split.

options:
  --train PATH           training labels to write
  --test PATH            test labels to write
  --train-fraction F     fraction of each class for training, in (0, 1) (default 0.05)
  --per-class N          N training pixels per class (a class with fewer is an error)
  --seed S               random seed (default 1)
  --block PIXELS         cut the scene into PIXELS x PIXELS blocks and put every block wholly on
                         one side; each block counts for its majority class, whose blocks are
                         drawn until the class's training target is met
  --buffer R             drop test pixels within R pixels (Chebyshev) of a training pixel: test
                         patches up to 2R+1 pixels wide then never cover a training pixel
  --field NAME           LABELS is a vector file (GeoJSON, Shapefile, GeoPackage): its class field
  --image IMAGE          the image whose grid a vector file is rasterised onto
  -q, --quiet            print nothing

Both outputs keep the labels' georeference, class ids, colour table and category names; they are
written together, and on failure neither is.]]

local spec = {
  ["--train"] = "value", ["--test"] = "value", ["--train-fraction"] = "value",
  ["--per-class"] = "value", ["--seed"] = "value", ["--block"] = "value", ["--buffer"] = "value",
  ["--field"] = "value", ["--image"] = "value", ["-q"] = "flag", ["--quiet"] = "flag",
}

function split.run(args)
  local opts, pos = cli.parse("split", args, spec)
  if #pos ~= 1 then cli.fail("split", "expected one LABELS file (usage: cropnet split LABELS --train TRAIN.tif --test TEST.tif)") end
  if not opts.train then cli.fail("split", "--train is required") end
  if not opts.test then cli.fail("split", "--test is required") end
  if opts.train_fraction and opts.per_class then
    cli.fail("split", "give --train-fraction or --per-class, not both")
  end
  if opts.field and not opts.image then cli.fail("split", "--field needs --image (the grid to rasterise onto)") end
  local o = {
    train = opts.train, test = opts.test,
    train_fraction = cli.number("split", opts, "train_fraction", nil, 0, 1, false),
    per_class = cli.number("split", opts, "per_class", nil, 1, math.maxinteger, true),
    seed = cli.number("split", opts, "seed", 1, math.mininteger, math.maxinteger, true),
    block = cli.number("split", opts, "block", nil, 1, 1 << 30, true),
    buffer = cli.number("split", opts, "buffer", nil, 0, 1 << 30, true),
  }
  if o.train_fraction and (o.train_fraction <= 0 or o.train_fraction >= 1) then
    cli.fail("split", string.format("--train-fraction must be in (0, 1) (given '%s')", opts.train_fraction))
  end
  local cn = require "cropnet"
  local labels = pos[1]
  if opts.field then
    local raster, err = cn.data.labels_from_vector(labels, opts.field, opts.image)
    if not raster then cli.fail("split", err) end
    labels = raster
  end
  local train, test, counts = cn.data.split(labels, o)
  if not train then cli.fail("split", test) end
  if not (opts.q or opts.quiet) then
    io.stdout:write(string.format("%8s %10s %8s %8s %8s\n", "class", "labelled", "train", "test", "dropped"))
    for _, c in ipairs(counts.classes) do
      io.stdout:write(string.format("%8d %10d %8d %8d %8d\n", c.id, c.labelled, c.train, c.test, c.dropped))
    end
    io.stdout:write(string.format("%8s %10d %8d %8d %8d\n", "total",
      counts.train + counts.test + counts.dropped, counts.train, counts.test, counts.dropped))
    io.stdout:write("train: ", train, "\ntest:  ", test, "\n")
  end
  return 0
end

return split
