-- cropnet synth -o IMAGE.tif --labels LABELS.tif [...]: the synthetic field scene, cropnet's
-- embedded default, at any size.
local cli = require "cropnet.cli"

local synth = {}

synth.help = [[
usage: cropnet synth -o IMAGE.tif --labels LABELS.tif [--width W] [--height H] [--bands B]
                     [--classes K] [--seed S] [--threads T] [-q]

Generates a synthetic hyperspectral field scene and its ground truth: crop parcels separated by
hedges and roads, each parcel one class with its own brightness, cover and gradient, smooth class
spectra over 400-2500 nm (vegetation red edge, soils, water absorptions), low-frequency
variation, sensor noise, and a nodata frame. The same options give the same pixels.

IMAGE.tif: Int16 reflectance x 10000, B bands, nodata -9999 on every band, pixel-interleaved,
tiled, DEFLATE; LABELS.tif: class ids 1..K per parcel, 0 on roads, hedges and the frame, with
class names and colours. Both georeferenced in WGS 84 / UTM 10N (EPSG:32610, the Salinas
Valley) with 3.7 m pixels, written atomically: both files appear, or neither.

options:
  -o, --output IMAGE.tif   the image to write
  --labels LABELS.tif      the label map to write
  --width W, --height H    size in pixels, 32..100000 each (default 256 x 256)
  --bands B                spectral bands, 3..2000 (default 32)
  --classes K              crop classes, 2..64 (default 6: Broccoli, Celery, Fallow, Grapes,
                           Lettuce, Vineyard)
  --seed S                 the layout and noise seed (default 1); class spectra do not depend
                           on it, so one seed's model applies to another seed's scene (as to
                           a new season: new fields, lower accuracy)
  --threads T              generator threads (default: every CPU); the pixels do not depend on it
  -q, --quiet              no progress bar and no report

The scene is made and written tile by tile: memory stays near 2 x threads x 256 x 256 x B
samples, plus GDAL's block cache (limited to two tiles of B bands plus 16 MB unless
GDAL_CACHEMAX is set), whatever the scene's size.]]

function synth.run(args)
  local opts, pos = cli.parse("synth", args, {
    ["-o"] = "value", ["--output"] = "value", ["--labels"] = "value", ["--width"] = "value",
    ["--height"] = "value", ["--bands"] = "value", ["--classes"] = "value", ["--seed"] = "value",
    ["--threads"] = "value", ["-q"] = "flag", ["--quiet"] = "flag",
  })
  if #pos > 0 then
    cli.fail("synth", "unexpected argument '" .. pos[1] ..
      "' (usage: cropnet synth -o IMAGE.tif --labels LABELS.tif)")
  end
  local output = opts.o or opts.output
  if not output then cli.fail("synth", "-o IMAGE.tif is required") end
  if not opts.labels then cli.fail("synth", "--labels LABELS.tif is required") end
  local cn = require "cropnet"
  local d = cn.scene.synth_defaults()
  local o = {
    output = output, labels = opts.labels,
    width = cli.number("synth", opts, "width", d.width, 32, 100000, true),
    height = cli.number("synth", opts, "height", d.height, 32, 100000, true),
    bands = cli.number("synth", opts, "bands", d.bands, 3, 2000, true),
    classes = cli.number("synth", opts, "classes", d.classes, 2, 64, true),
    seed = cli.number("synth", opts, "seed", d.seed, 0, math.maxinteger, true),
    threads = cli.number("synth", opts, "threads", 0, 1, 64, true),
  }
  -- GDAL's block cache (5% of RAM by default) need only hold the tile being written, all its
  -- bands together (a pixel-interleaved tile is written whole), and the label blocks around it
  if not os.getenv("GDAL_CACHEMAX") then cn.raster.cache_max(o.bands // 4 + 16) end
  local quiet = opts.q or opts.quiet
  local bar = not quiet and cn.core.isatty("stderr")
  o.progress = bar and cli.term_progress(io.stderr) or nil
  local ok, why = cn.scene.synth(o)
  if not ok then
    if bar then io.stderr:write("\n") end
    cli.fail("synth", why)
  end
  if not quiet then
    local names = {}
    for i, c in ipairs(cn.scene.synth_classes(o.classes)) do names[i] = c.name end
    io.stdout:write(string.format("%s: %d x %d pixels, %d bands (Int16 reflectance x 10000, " ..
      "nodata -9999), EPSG:32610, 3.7 m, seed %d\n%s: %d classes: %s\n", output, o.width,
      o.height, o.bands, o.seed, opts.labels, o.classes, table.concat(names, ", ")))
  end
  return 0
end

return synth
