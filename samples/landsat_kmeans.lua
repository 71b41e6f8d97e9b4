-- landsat_kmeans.lua: unsupervised zones of a real Landsat-5 TM scene (Tucuruí reservoir, Pará,
-- 1988-08-14) by k-means — how a field survey starts before any ground truth exists:
--
--   1. stack the single-band GeoTIFFs into one image (gdalbuildvrt -separate, reflective bands
--      1-5 and 7; band 6 is thermal and coarser),
--   2. fit k-means on the scene's valid pixels (k-means++ init, a few restarts),
--   3. write the zone map (GeoTIFF: ids 1..K, colour table, centroids in its metadata) and the
--      centroids, so the same zones can be applied to the neighbouring tiles,
--   4. print each zone's size and mean spectrum, brightest near-infrared last.
--
-- The same from the command line:
--   cropnet cluster landsat-zones/stack.vrt -k 6 -o landsat-zones/zones.tif --seed 1 --n-init 3 \
--       --centroids-out landsat-zones/zones.json
--
-- usage: cropnet run samples/landsat_kmeans.lua [LANDSAT_DIR] [OUT_DIR] [K]
--        (defaults: ../shared/data/landsat beside the project, ./landsat-zones, 6)
local cn = require "cropnet"

local here = (arg and arg[0] or ""):match("^(.*)/samples/[^/]*$") or "."
local data = arg and arg[1] or (here .. "/../shared/data/landsat")
local out = arg and arg[2] or "landsat-zones"
local k = math.tointeger(tonumber(arg and arg[3] or "6")) or error("K must be an integer", 0)
local scene = "LT52240631988227CUB02"
local band_names = { "B1 blue", "B2 green", "B3 red", "B4 NIR", "B5 SWIR1", "B7 SWIR2" }

local function sh(cmd)
  local ok = os.execute(cmd)
  if not ok then error("failed: " .. cmd, 0) end
end
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

sh("mkdir -p " .. q(out))
local stack = out .. "/stack.vrt"
local bands = {}
for _, b in ipairs { 1, 2, 3, 4, 5, 7 } do
  bands[#bands + 1] = q(string.format("%s/%s_B%d.TIF", data, scene, b))
end
sh("gdalbuildvrt -q -overwrite -separate " .. q(stack) .. " " .. table.concat(bands, " "))

local img <close> = assert(cn.raster.open(stack))
local model = assert(cn.cluster.kmeans { data = img, k = k, seed = 1, n_init = 3 })
print(string.format("k-means on %d pixels: %d iterations, inertia %.6g", model:pixels(),
  model:iterations(), model:inertia()))

local map = out .. "/zones.tif"
assert(model:predict_raster(img, map))
assert(model:save(out .. "/zones.json", stack))
print("zone map: " .. map .. "   centroids: " .. out .. "/zones.json")

-- zone sizes from the map, mean spectra from the centroids
local w, h = img:size()
local mr <close> = assert(cn.raster.open(map))
local ids, count = mr:read_labels(0, 0, w, h), {}
for i = 1, w * h do
  local id = math.tointeger(ids:get(i))
  count[id] = (count[id] or 0) + 1
end
local c = model:centroids():totable()
local order = {}
for j = 1, k do order[j] = j end
table.sort(order, function(a, b) return c[a][4] < c[b][4] end) -- by near-infrared
print(string.format("%-5s %8s  %s", "zone", "pixels", table.concat(band_names, "  ")))
for _, j in ipairs(order) do
  local row = {}
  for b = 1, #band_names do row[b] = string.format("%" .. #band_names[b] .. ".1f", c[j][b]) end
  print(string.format("%-5d %8d  %s", j, count[j] or 0, table.concat(row, "  ")))
end
