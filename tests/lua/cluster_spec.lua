-- cluster_spec: k-means from Lua (cn.cluster) and `cropnet cluster` end to end: models fitted on
-- tensors and rasters, prediction, saved centroids reused on another tile, the segment map's
-- ids, nodata, colour table and metadata, and every bad input refused with nothing left behind.
local clitest = require "clitest"
local rastertest = require "rastertest"
local cn = require "cropnet"

local q = clitest.quote
local dir, path = clitest.workdir("cluster_spec")
local landsat = clitest.data_dir("landsat", "LT52240631988227CUB02_B1.TIF")

local function listing() return clitest.listing(dir) end

local write = clitest.write

-- A W × H × bands Float32 GeoTIFF (UTM 22N, 30 m, nodata -9999) from value(x, y, b).
local function make_image(file, w, h, bands, value)
  rastertest.write(file, w, h, bands, "Float32", value,
    { epsg = 32622, x0 = 600000, y0 = 5000000, pixel = 30, nodata = -9999 })
end

-- Three vertical zones of distinct spectra with a little deterministic noise; every 17th pixel
-- is nodata in one band.
local W, H, B = 36, 24, 3
local zones = { { 10, 80, 30 }, { 60, 20, 90 }, { 120, 120, 10 } }
local function zone_of(x) return x * 3 // W + 1 end
local function zone_value(x, y, b)
  local p = y * W + x
  if p % 17 == 0 and b == p % B + 1 then return -9999 end
  return zones[zone_of(x)][b] + ((p * 7 + b * 13) % 11 - 5) / 5
end
local scene = path("zones.tif")
make_image(scene, W, H, B, zone_value)

-- The ids of a one-band map, row-major, through cn.raster.
local function read_ids(file)
  local r <close> = assert(cn.raster.open(file))
  return r:read_labels(0, 0, W, H)
end

-- Each zone maps to one id (every valid pixel), the three ids differ, nodata pixels are 0.
local function zones_recovered(ids)
  local seen = {}
  for y = 0, H - 1 do
    for x = 0, W - 1 do
      local p, id = y * W + x, ids:get(y * W + x + 1)
      if p % 17 == 0 then
        if id ~= 0 then return false end
      else
        local z = zone_of(x)
        seen[z] = seen[z] or id
        if id ~= seen[z] or id < 1 then return false end
      end
    end
  end
  return seen[1] ~= seen[2] and seen[2] ~= seen[3] and seen[1] ~= seen[3]
end

describe("cn.cluster.kmeans on tensors", function()
  local x = cn.tensor { { 0, 0 }, { 0, 1 }, { 10, 10 }, { 10, 11 }, { 20, 0 }, { 21, 0 } }

  it("returns a model with k x bands centroids, inertia and iterations", function()
    local m = cn.cluster.kmeans { data = x, k = 3, seed = 1 }
    assert.same({ 3, 2 }, { m:centroids():size() })
    assert.equal(3, m:k())
    assert.equal(2, m:bands())
    assert.near(1.5, m:inertia(), 1e-6)
    assert.is_true(m:iterations() >= 1)
  end)

  it("predicts 1-based segment ids and the inertia", function()
    local m = cn.cluster.kmeans { data = x, k = 3, seed = 1 }
    local ids, inertia = m:predict(x)
    local t = ids:totable()
    assert.equal(t[1], t[2])
    assert.equal(t[3], t[4])
    assert.equal(t[5], t[6])
    assert.are_not.equal(t[1], t[3])
    for _, id in ipairs(t) do assert.is_true(id >= 1 and id <= 3) end
    assert.near(m:inertia(), inertia, 1e-9)
  end)

  it("labels rows with NaN 0", function()
    local m = cn.cluster.kmeans { data = x, k = 2 }
    local ids = m:predict(cn.tensor { { 0 / 0, 1 }, { 0, 0 } })
    assert.equal(0, ids:get(1))
    assert.is_true(ids:get(2) >= 1)
  end)

  it("starts from given centroids", function()
    local m = cn.cluster.kmeans { data = x, k = 3, init = cn.tensor { { 0, 0 }, { 10, 10 }, { 20, 0 } },
                                  max_iter = 1 }
    assert.same({ { 0, 0.5 }, { 10, 10.5 }, { 20.5, 0 } }, m:centroids():totable())
  end)

  it("gives the same centroids for the same seed, with random init and restarts", function()
    local a = cn.cluster.kmeans { data = x, k = 2, seed = 5, init = "random", n_init = 3 }
    local b = cn.cluster.kmeans { data = x, k = 2, seed = 5, init = "random", n_init = 3, threads = 2 }
    assert.same(a:centroids():totable(), b:centroids():totable())
  end)

  it("fits mini-batch k-means and continues with partial_fit", function()
    local m = cn.cluster.kmeans { data = x, k = 3, seed = 2, minibatch = { batch = 4, steps = 20 } }
    assert.equal(20, m:iterations())
    local e = cn.cluster.model { k = 3, bands = 2 }
    assert.is_nil(e:centroids())
    e:partial_fit(x, { seed = 2 })
    e:partial_fit(x)
    assert.equal(2, e:iterations())
    assert.same({ 3, 2 }, { e:centroids():size() })
  end)

  it("refuses k < 1 and bad options with an error", function()
    assert.has_error(function() cn.cluster.kmeans { data = x, k = 0 } end,
      "cn.cluster.kmeans: option 'k' must be an integer in 1..65535")
    assert.has_error(function() cn.cluster.kmeans { data = x } end)
    assert.has_error(function() cn.cluster.kmeans { data = x, k = 2, init = "best" } end)
    assert.has_error(function() cn.cluster.kmeans { data = x, k = 2, colour = 1 } end,
      "cn.cluster.kmeans: unknown option 'colour'")
  end)

  it("returns nil and a reason for more clusters than valid pixels", function()
    local m, why = cn.cluster.kmeans { data = x, k = 7 }
    assert.is_nil(m)
    assert.equal("k-means: k = 7 is more than the 6 valid pixels", why)
  end)

  it("refuses to predict pixels with another band count", function()
    local m = cn.cluster.kmeans { data = x, k = 2 }
    assert.has_error(function() m:predict(cn.tensor { { 1, 2, 3 } }) end,
      "predict: the pixels have 3 bands, the model has 2")
  end)

  it("saves centroids and loads them back exactly", function()
    local m = cn.cluster.kmeans { data = x, k = 3, seed = 1 }
    assert.is_true(m:save(path("c.json")))
    local back = assert(cn.cluster.load(path("c.json")))
    assert.same(m:centroids():totable(), back:centroids():totable())
    assert.equal(m:inertia(), back:inertia())
    local none, why = cn.cluster.load(path("missing.json"))
    assert.is_nil(none)
    assert.matches("missing.json: cannot open", why)
  end)
end)

describe("cn.cluster.kmeans on rasters", function()
  it("fits on a raster path and labels it into a segment map", function()
    local m = assert(cn.cluster.kmeans { data = scene, k = 3, seed = 1 })
    assert.equal(W * H - math.ceil(W * H / 17), m:pixels())
    local ok, inertia = m:predict_raster(scene, path("lua_seg.tif"))
    assert.is_true(ok)
    assert.near(m:inertia(), inertia, 1e-6 * inertia)
    assert.is_true(zones_recovered(read_ids(path("lua_seg.tif"))))
  end)

  it("fits on an open raster with a streamed mini-batch", function()
    local r <close> = assert(cn.raster.open(scene))
    local m = assert(cn.cluster.kmeans { data = r, k = 3, seed = 1, minibatch = { batch = 50 }, tile = 8 })
    assert.is_true(m:predict_raster(r, path("mb_seg.tif")))
    assert.is_true(zones_recovered(read_ids(path("mb_seg.tif"))))
  end)

  it("reports progress and stops when the callback says so", function()
    local calls = 0
    local m, why = cn.cluster.kmeans { data = scene, k = 3, tile = 8,
      progress = function(f) calls = calls + 1; return calls < 3 end }
    assert.is_nil(m)
    assert.matches("cancelled", why)
  end)

  it("returns nil and a reason for a missing raster or a band mismatch", function()
    local m, why = cn.cluster.kmeans { data = path("nope.tif"), k = 2 }
    assert.is_nil(m)
    assert.matches("nope.tif", why)
    local two = cn.cluster.model(cn.tensor { { 1, 2 }, { 3, 4 } })
    local ok, err = two:predict_raster(scene, path("bad_seg.tif"))
    assert.is_nil(ok)
    assert.equal(scene .. ": has 3 bands, the model has 2", err)
    assert.is_false(clitest.exists(path("bad_seg.tif")))
  end)
end)

describe("cropnet cluster", function()
  it("writes segment ids 1..K with nodata 0, colour table, georeference and centroids", function()
    local out = path("seg.tif")
    local r = clitest.run("cluster", scene, "-k", "3", "-o", out, "--seed", "1", "-q")
    assert.equal(0, r.code, r.stderr)
    assert.is_true(zones_recovered(read_ids(out)))
    local info = clitest.gdalinfo(out, "-json")
    assert.matches('"KMEANS_CENTROIDS":"%[%[', info)
    assert.matches('"KMEANS_INERTIA":"[%d.e+]+"', info)
    assert.matches('"KMEANS_K":"3"', info)
    assert.matches('"colorTable"', info)
    assert.matches('"noDataValue":0', info)
    assert.matches("segment 2", info)
    local img <close> = assert(cn.raster.open(scene))
    local map <close> = assert(cn.raster.open(out))
    assert.same({ img:geotransform() }, { map:geotransform() })
  end)

  it("prints a summary, saves centroids and applies them to another tile", function()
    local r = clitest.run("cluster", scene, "-k", "3", "-o", path("a.tif"), "--centroids-out",
      path("zones.json"), "--seed", "4")
    assert.equal(0, r.code, r.stderr)
    assert.matches("a%.tif: 3 segments, inertia", r.stdout)
    -- the next tile: the same zones, shifted noise
    local tile2 = path("tile2.tif")
    make_image(tile2, W, H, B, function(x, y, b) return zone_value(x, (y + 5) % H, b) end)
    r = clitest.run("cluster", tile2, "--centroids", path("zones.json"), "-o", path("b.tif"), "-q")
    assert.equal(0, r.code, r.stderr)
    local a, b = read_ids(path("a.tif")), read_ids(path("b.tif"))
    assert.equal(a:get(1 + 1), b:get(1 + 1)) -- same zone, same id on both tiles
    assert.equal(a:get(W), b:get(W))
    assert.is_true(zones_recovered(a))
  end)

  it("gives the same map for any tile size and thread count", function()
    local r1 = clitest.run("cluster", scene, "-k", "4", "-o", path("t1.tif"), "--tile", "7", "-q")
    local r2 = clitest.run("cluster", scene, "-k", "4", "-o", path("t2.tif"), "--threads", "2", "-q")
    assert.equal(0, r1.code, r1.stderr)
    assert.equal(0, r2.code, r2.stderr)
    assert.same(read_ids(path("t1.tif")):totable(), read_ids(path("t2.tif")):totable())
  end)

  it("refuses bad input in one line and leaves no file", function()
    local before = listing()
    local nodata = path("nodata.tif")
    make_image(nodata, 4, 3, 2, function() return -9999 end)
    before = listing()
    local cases = {
      { { scene, "-k", "0", "-o", path("x.tif") }, "cluster: %-k must be an integer in %[1, 65535%]" },
      { { scene, "-k", "two", "-o", path("x.tif") }, "%-k must be an integer" },
      { { scene, "-o", path("x.tif") }, "%-k K %(the number of zones%) is required" },
      { { scene, "-k", "2000", "-o", path("x.tif") }, "k = 2000 is more than the %d+ valid pixels" },
      { { nodata, "-k", "2", "-o", path("x.tif") }, "nodata.tif: has no valid pixel" },
      { { path("absent.tif"), "-k", "2", "-o", path("x.tif") }, "absent.tif" },
      { { scene, "-k", "2", "-o", path("x.tif"), "--init", "best" }, "%-%-init must be kmeans%+%+ or random" },
      { { scene, "-k", "2", "-o", scene }, "is an input" },
      { { scene, "-k", "2", "-o", path("x.tif"), "--steps", "3" }, "%-%-steps needs %-%-minibatch" },
    }
    for _, c in ipairs(cases) do
      local r = clitest.run("cluster", table.unpack(c[1]))
      assert.is_true(clitest.one_line_error(r), r.stderr)
      assert.matches(c[2], r.stderr)
      assert.equal(before, listing())
    end
  end)

  it("refuses centroids of another band count and keeps an existing map", function()
    local two = cn.cluster.model(cn.tensor { { 1, 2 }, { 3, 4 } })
    assert.is_true(two:save(path("two.json")))
    write(path("keep.tif"), "earlier")
    local r = clitest.run("cluster", scene, "--centroids", path("two.json"), "-o", path("keep.tif"),
      "--centroids-out", path("out.json"))
    assert.is_true(clitest.one_line_error(r), r.stderr)
    assert.matches("has 3 bands, the model has 2", r.stderr)
    local f = assert(io.open(path("keep.tif"), "rb"))
    assert.equal("earlier", f:read("a"))
    f:close()
    assert.is_false(clitest.exists(path("out.json")))
    assert.is_false(clitest.exists(path("out.json.cropnet-part")))
  end)

  it("segments the real Landsat-5 scene into zones", function()
    if not landsat then
      pending("../shared/data/landsat is absent")
      return
    end
    local stack = path("landsat.vrt")
    local bands = {}
    for _, b in ipairs { 1, 2, 3, 4, 5, 7 } do
      bands[#bands + 1] = q(landsat .. "/LT52240631988227CUB02_B" .. b .. ".TIF")
    end
    assert.equal(0, clitest.sh("gdalbuildvrt -q -separate " .. q(stack) .. " " .. table.concat(bands, " ")).code)
    local out = path("landsat_zones.tif")
    local r = clitest.run("cluster", stack, "-k", "6", "-o", out, "--seed", "1", "-q")
    assert.equal(0, r.code, r.stderr)
    local map <close> = assert(cn.raster.open(out))
    local w, h = map:size()
    assert.same({ 287, 310 }, { w, h })
    local ids, seen, n = map:read_labels(0, 0, w, h), {}, 0
    for i = 1, w * h do
      local id = ids:get(i)
      if not seen[id] then seen[id] = true; n = n + 1 end
    end
    assert.equal(6, n) -- every pixel of the scene is valid: six zones, no 0
    assert.is_nil(seen[0])
  end)

  it("runs the Landsat zones sample", function()
    if not landsat then
      pending("../shared/data/landsat is absent")
      return
    end
    local out = path("sample")
    local r = clitest.run("run", clitest.source .. "/samples/landsat_kmeans.lua",
      landsat, out, "4")
    assert.equal(0, r.code, r.stderr)
    assert.matches("k%-means on 88970 pixels", r.stdout)
    assert.is_true(clitest.exists(out .. "/zones.tif"))
    local back = assert(cn.cluster.load(out .. "/zones.json"))
    assert.equal(4, back:k())
    assert.equal(6, back:bands())
  end)
end)
