-- cropnet classify IMAGE MODEL -o MAP.tif [...]: a crop map from an image and a per-pixel or
-- patch model, tile by tile in bounded memory, with GDAL's progress bar on a terminal.
local cli = require "cropnet.cli"

local classify = {}

classify.help = [[
usage: cropnet classify IMAGE MODEL -o MAP.tif [--confidence CONF.tif] [--probabilities PROB.tif]
                        [--tile N] [--ram MB] [--threads T] [-co NAME=VALUE]... [-q]

Classifies every pixel of IMAGE (any raster GDAL reads) with MODEL (from cropnet train) and
writes MAP.tif: one band of class ids (Byte, UInt16 past 255), nodata 0 for unclassified and
invalid pixels, the image's georeference, the model's colours and class names. A patch model
(cropnet train --arch cnn) reads each tile with a halo of half its patch, reflected at the
image's edges: the map is the same, pixel for pixel, whatever the tile size.

  -o, --output MAP.tif       the crop map (GeoTIFF)
  --confidence CONF.tif      also write the top class probability (Float32, nodata 0)
  --probabilities PROB.tif   also write every class probability (Float32, one band per class
                             named after it, nodata -1)
  --tile N                   tile side in pixels (default 512)
  --ram MB                   memory for the tile buffers (default 256); the tile height shrinks
                             to fit: tile pixels <= MB * 2^20 / bytes per pixel, which are
                             4 * bands + 5, + 4 with --confidence, + 4 * classes with
                             --probabilities (a patch model's halo counts too)
  --threads T                threads for the network's matrix products (default: every core);
                             the map is the same whatever the count
  -co NAME=VALUE             GeoTIFF creation option, repeatable (defaults TILED=YES,
                             COMPRESS=DEFLATE, BLOCKXSIZE=256, BLOCKYSIZE=256, BIGTIFF=IF_SAFER)
  -q, --quiet                no progress bar (there is none when stderr is not a terminal)

GDAL's block cache gets as much memory as --ram (at least 64 MB) unless GDAL_CACHEMAX is set:
peak memory is about twice --ram plus the network's batch buffers, whatever the image size.
The outputs are written to temporary files beside them and renamed when complete: a failure or
an interrupt (Ctrl-C) leaves no partial file and keeps an existing one.]]

-- GDAL's term progress: "0...10...20...30...40...50...60...70...80...90...100 - done."
local function term_progress(out)
  local last = -1
  return function(fraction)
    local tick = math.floor(math.max(0, math.min(1, fraction)) * 40 + 1e-9)
    for t = last + 1, tick do
      if t % 4 == 0 then out:write(tostring(t // 4 * 10)) else out:write(".") end
      if t == 40 then out:write(" - done.\n") end
    end
    if tick > last then
      last = tick
      out:flush()
    end
    return true
  end
end

function classify.run(args)
  local opts, pos = cli.parse("classify", args, {
    ["-o"] = "value", ["--output"] = "value", ["--confidence"] = "value",
    ["--probabilities"] = "value", ["--tile"] = "value", ["--ram"] = "value",
    ["--threads"] = "value", ["-co"] = "list", ["-q"] = "flag", ["--quiet"] = "flag",
  })
  if #pos ~= 2 then
    cli.fail("classify", "expected IMAGE and MODEL (usage: cropnet classify IMAGE MODEL -o MAP.tif)")
  end
  local output = opts.o or opts.output
  if not output then cli.fail("classify", "-o MAP.tif is required") end
  local tile = cli.number("classify", opts, "tile", nil, 1, 1 << 20, true)
  local ram = cli.number("classify", opts, "ram", 256, 1, 1 << 30, true)
  for _, co in ipairs(opts.co or {}) do
    if not co:find("^[^=]+=") then
      cli.fail("classify", string.format("-co %s: expected NAME=VALUE", co))
    end
  end
  local cn = require "cropnet"
  cn.set_threads(cli.number("classify", opts, "threads", cn.core.cpus(), 1, 64, true))
  -- a band of a pixel-interleaved source read through a VRT evicts the other bands' blocks
  -- from a small cache, and each band then decodes the whole block again: give it --ram
  if not os.getenv("GDAL_CACHEMAX") then cn.raster.cache_max(math.max(64, ram)) end
  local quiet = opts.q or opts.quiet or not cn.core.isatty("stderr")
  local ok, why = cn.classify{
    model = pos[2], image = pos[1], output = output, confidence = opts.confidence,
    probabilities = opts.probabilities, tile = tile, ram = ram, creation_options = opts.co,
    progress = not quiet and term_progress(io.stderr) or nil,
  }
  if not ok then
    if not quiet then io.stderr:write("\n") end
    cli.fail("classify", why)
  end
  return 0
end

return classify
