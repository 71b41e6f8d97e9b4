-- cropnet cluster IMAGE -k K -o SEGMENTS.tif [...]: unsupervised zones of a scene by k-means,
-- fitted on a sample of its valid pixels and labelled tile by tile in bounded memory.
local cli = require "cropnet.cli"

local cluster = {}

cluster.help = [==[
usage: cropnet cluster IMAGE -k K -o SEGMENTS.tif [--seed S] [--init kmeans++|random]
                       [--n-init N] [--max-iter N] [--tol T] [--sample N]
                       [--centroids-out FILE] [--centroids FILE] [--minibatch BATCH [--steps N]]
                       [--threads T] [--tile N] [--ram MB] [-co NAME=VALUE]... [-q]

Groups the pixels of IMAGE (any raster GDAL reads) into K spectrally similar zones by k-means
and writes SEGMENTS.tif: one band of segment ids 1..K (Byte, UInt16 past 255), 0 and nodata for
invalid pixels (a band equal to its nodata value, NaN or infinite), the image's georeference, a
colour table, and the centroids and inertia in its metadata (KMEANS_CENTROIDS, KMEANS_INERTIA...).

  -k, --clusters K         number of zones (1..65535; taken from --centroids when given)
  -o, --output FILE        the segment map (GeoTIFF)
  --seed S                 seeds the sample and the initialisation (default 0)
  --init kmeans++|random   initial centroids (default kmeans++, scikit-learn's greedy variant)
  --n-init N               restarts, keeping the lowest inertia (default 1)
  --max-iter N             Lloyd iterations at most (default 300)
  --tol T                  stop when the centroids move by at most T x the mean band variance
                           (sum of squared shifts; default 1e-4, 0 = until no pixel changes)
  --sample N               fit on N valid pixels drawn uniformly (default: all of them when
                           there are at most 1048576 and they fit in 256 MB as float32, else a
                           sample that size); the whole scene is labelled either way
  --minibatch BATCH        mini-batch k-means over every valid pixel instead, streamed tile by
                           tile in batches of BATCH pixels (for scenes too large to sample)
  --steps N                mini-batch steps (default: one pass over the scene)
  --centroids-out FILE     also save the centroids (JSON) to apply them to other tiles
  --centroids FILE         label with saved centroids instead of fitting
  --threads T              threads (default: all cores)
  --tile N                 tile side in pixels (default 512)
  --ram MB                 memory for the tile buffers (default 256)
  -co NAME=VALUE           GeoTIFF creation option, repeatable
  -q, --quiet              no progress bar and no summary

The outputs are written to temporary files beside them and renamed when complete: a failure or
an interrupt (Ctrl-C) leaves no partial file and keeps existing ones.]==]

local function int_opt(opts, key, default, lo, hi)
  return cli.number("cluster", opts, key, default, lo, hi, true)
end

function cluster.run(args)
  local opts, pos = cli.parse("cluster", args, {
    ["-k"] = "value", ["--clusters"] = "value", ["-o"] = "value", ["--output"] = "value",
    ["--seed"] = "value", ["--init"] = "value", ["--n-init"] = "value", ["--max-iter"] = "value",
    ["--tol"] = "value", ["--sample"] = "value", ["--centroids-out"] = "value",
    ["--centroids"] = "value", ["--minibatch"] = "value", ["--steps"] = "value",
    ["--threads"] = "value", ["--tile"] = "value", ["--ram"] = "value", ["-co"] = "list",
    ["-q"] = "flag", ["--quiet"] = "flag",
  })
  if #pos ~= 1 then
    cli.fail("cluster", "expected one IMAGE (usage: cropnet cluster IMAGE -k K -o SEGMENTS.tif)")
  end
  local image = pos[1]
  local output = opts.o or opts.output
  if not output then cli.fail("cluster", "-o SEGMENTS.tif is required") end
  opts.k = opts.k or opts.clusters
  local k = opts.k and math.tointeger(tonumber(opts.k))
  if opts.k and not (k and k >= 1 and k <= 65535) then
    cli.fail("cluster", string.format("-k must be an integer in [1, 65535] (given '%s')", opts.k))
  end
  if not k and not opts.centroids then cli.fail("cluster", "-k K (the number of zones) is required") end
  local init = opts.init or "kmeans++"
  if init ~= "kmeans++" and init ~= "k-means++" and init ~= "random" then
    cli.fail("cluster", "--init must be kmeans++ or random (given '" .. init .. "')")
  end
  local fit = {
    k = k, seed = int_opt(opts, "seed", 0, math.mininteger, math.maxinteger), init = init,
    n_init = int_opt(opts, "n_init", 1, 1, 10000), max_iter = int_opt(opts, "max_iter", 300, 1, 1 << 30),
    tol = cli.number("cluster", opts, "tol", 1e-4, 0, math.huge),
    sample = int_opt(opts, "sample", nil, 1, 1 << 50),
    threads = int_opt(opts, "threads", nil, 1, 4096),
    tile = int_opt(opts, "tile", nil, 1, 1 << 20), ram = int_opt(opts, "ram", 256, 1, 1 << 30),
  }
  local batch = int_opt(opts, "minibatch", nil, 1, 1 << 40)
  local steps = int_opt(opts, "steps", nil, 1, 1 << 50)
  if steps and not batch then cli.fail("cluster", "--steps needs --minibatch BATCH") end
  if batch then fit.minibatch = { batch = batch, steps = steps } end
  for _, co in ipairs(opts.co or {}) do
    if not co:find("^[^=]+=") then cli.fail("cluster", string.format("-co %s: expected NAME=VALUE", co)) end
  end
  local out_c = opts.centroids_out
  for _, p in ipairs { image, opts.centroids } do
    if out_c == p or output == p then cli.fail("cluster", (out_c == p and out_c or output) .. ": is an input") end
  end
  if out_c and out_c == output then cli.fail("cluster", out_c .. ": is also the segment map") end

  local cn = require "cropnet"
  if not os.getenv("GDAL_CACHEMAX") then cn.raster.cache_max(math.max(16, fit.ram // 4)) end
  local quiet = opts.q or opts.quiet
  local bar = not quiet and cn.core.isatty("stderr") and cli.term_progress(io.stderr) or nil
  local function stage(lo, hi)
    if not bar then return nil end
    return function(f) return bar(lo + f * (hi - lo)) end
  end
  local function fail(why)
    if bar then io.stderr:write("\n") end
    cli.fail("cluster", why)
  end

  local model, why
  if opts.centroids then
    model, why = cn.cluster.load(opts.centroids)
    if not model then fail(why) end
    if k and k ~= model:k() then
      fail(string.format("%s: holds %d centroids, -k is %d", opts.centroids, model:k(), k))
    end
  else
    fit.data, fit.progress = image, stage(0, 0.5)
    model, why = cn.cluster.kmeans(fit)
    if not model then fail(why) end
  end
  -- the centroids go to a temporary name first, renamed once the map is in place
  local part = out_c and (out_c .. ".cropnet-part")
  if out_c then
    local ok, err = model:save(part, image, output)
    if not ok then fail((err:gsub("%.cropnet%-part", ""))) end
  end
  local keep = {}
  for _, p in ipairs { opts.centroids or false, out_c or false } do
    if p then keep[#keep + 1] = p end
  end
  local called, ok, inertia = pcall(model.predict_raster, model, image, output, {
    tile = fit.tile, ram = fit.ram, threads = fit.threads, creation_options = opts.co,
    progress = stage(opts.centroids and 0 or 0.5, 1), inputs = keep,
  })
  if not called then -- a bug rather than a failure: clean up, then let it through
    if part then os.remove(part) end
    error(ok, 0)
  end
  if not ok then
    if part then os.remove(part) end
    fail(inertia)
  end
  if out_c then
    local renamed, err = os.rename(part, out_c)
    if not renamed then
      os.remove(part)
      os.remove(output)
      os.remove(output .. ".aux.xml")
      fail(err)
    end
  end
  if not quiet then
    local fitted = opts.centroids and ("centroids from " .. opts.centroids)
      or string.format("fitted on %d pixels in %d iterations, inertia %.6g", model:pixels(),
        model:iterations(), model:inertia() or 0 / 0)
    io.stdout:write(string.format("%s: %d segments, inertia %.6g (%s)\n", output, model:k(),
      inertia, fitted))
  end
  return 0
end

return cluster
