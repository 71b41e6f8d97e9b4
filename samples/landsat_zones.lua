-- landsat_zones.lua: classify a real Landsat-5 TM scene (Tucuruí reservoir, Pará, 1988-08-14)
-- from a small vector training file — the everyday remote-sensing workflow:
--
--   1. stack the single-band GeoTIFFs into one image (gdalbuildvrt -separate, reflective bands
--      1-5 and 7; band 6 is thermal and coarser),
--   2. write training polygons with a text class field (here in the scene's UTM zone, then
--      reprojected to WGS 84 lon/lat with ogr2ogr, as field data usually arrives),
--   3. train a per-pixel MLP on the pixels under the polygons (cropnet rasterises them onto the
--      image grid, reprojecting as needed),
--   4. classify the whole scene into a GeoTIFF with colour table and class names.
--
-- usage: cropnet run samples/landsat_zones.lua [LANDSAT_DIR] [OUT_DIR]
--        (defaults: ../shared/data/landsat beside the project, and ./landsat-demo)
local cn = require "cropnet"

local here = (arg and arg[0] or ""):match("^(.*)/samples/[^/]*$") or "."
local data = arg and arg[1] or (here .. "/../shared/data/landsat")
local out = arg and arg[2] or "landsat-demo"
local scene = "LT52240631988227CUB02"

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

-- Training polygons in pixel coordinates of the 287 × 310 scene (x0, y0, x1, y1), turned into
-- UTM 22N coordinates with the scene's geotransform (origin 619395, -410205; 30 m pixels).
local areas = {
  { "water", { 110, 78, 150, 88 } }, { "water", { 235, 150, 255, 158 } },
  { "forest", { 15, 130, 45, 170 } }, { "forest", { 10, 20, 40, 50 } },
  { "cleared", { 97, 272, 130, 298 } }, { "cleared", { 225, 12, 275, 40 } },
}
local features = {}
for _, a in ipairs(areas) do
  local x0, y0, x1, y1 = table.unpack(a[2])
  local function e(x) return 619395 + 30 * x end
  local function n(y) return -410205 - 30 * y end
  features[#features + 1] = string.format(
    '{"type":"Feature","properties":{"class":"%s"},"geometry":{"type":"Polygon","coordinates":' ..
    '[[[%d,%d],[%d,%d],[%d,%d],[%d,%d],[%d,%d]]]}}',
    a[1], e(x0), n(y0), e(x1), n(y0), e(x1), n(y1), e(x0), n(y1), e(x0), n(y0))
end
local utm = out .. "/training_utm.geojson"
local f = assert(io.open(utm, "w"))
f:write('{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::32622"}},',
  '"features":[', table.concat(features, ","), "]}\n")
f:close()
local training = out .. "/training.gpkg"
os.remove(training)
sh("ogr2ogr -f GPKG -t_srs EPSG:4326 " .. q(training) .. " " .. q(utm))

cn.manual_seed(1)
local model, stats = cn.train { image = stack, labels = training, field = "class", seed = 1,
                                epochs = 60, batch = 32, optimizer = cn.optim.adam { learningRate = 3e-3 } }
print(string.format("trained on %s pixels: accuracy %.3f on the training pixels",
  model:meta("training_pixels"), stats.accuracy))
assert(model:save(out .. "/landsat.cropnet"))
local map = out .. "/landsat_map.tif"
assert(cn.classify { model = model, image = stack, output = map })
print("crop map: " .. map)
