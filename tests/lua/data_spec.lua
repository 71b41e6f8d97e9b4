-- data_spec: training data and measuring from Lua and from the command line: cn.data.samples,
-- band_stats, split, labels_from_vector, cn.evaluate; `cropnet split` and `cropnet eval` end to
-- end, their one-line errors and that a failure leaves no file.
local clitest = require "clitest"
local rastertest = require "rastertest"
local cn = require "cropnet"

local q = clitest.quote
local dir, path = clitest.workdir("data_spec")

local write = clitest.write

local function sh(line)
  local r = clitest.sh(line)
  assert(r.code == 0, line .. ": " .. r.stderr)
  return r.stdout
end

-- A w × h raster of `bands` bands (rastertest.write), on UTM 33N with 10 m pixels from
-- (500000, 4000000) unless o.x0 moves it; value(x, y, b) gives the pixels; o.nodata the nodata
-- value; o.names (a list for ids 0..) gives category names and a colour table (id, 2 id, 3 id).
local function make_raster(file, w, h, bands, dtype, value, o)
  o = o or {}
  local band
  if o.names then
    local xml = { "<CategoryNames>" }
    for _, n in ipairs(o.names) do xml[#xml + 1] = "<Category>" .. n .. "</Category>" end
    xml[#xml + 1] = "</CategoryNames><ColorTable>"
    for i = 0, #o.names - 1 do
      xml[#xml + 1] = string.format('<Entry c1="%d" c2="%d" c3="%d" c4="255"/>', i, 2 * i, 3 * i)
    end
    xml[#xml + 1] = "</ColorTable>"
    band = table.concat(xml, "\n")
  end
  return rastertest.write(file, w, h, bands, dtype, value,
    { epsg = 32633, x0 = o.x0 or 500000, y0 = 4000000, pixel = 10, nodata = o.nodata, band = band })
end

-- Reads a one-band raster's values as a flat list (row-major), through gdal_translate to AAIGrid.
local function read_raster(file)
  local asc = file .. ".asc"
  sh("gdal_translate -q -of AAIGrid " .. q(file) .. " " .. q(asc))
  local f = assert(io.open(asc))
  local values = {}
  for line in f:lines() do
    if not line:match("^%a") then
      for v in line:gmatch("%S+") do values[#values + 1] = math.tointeger(tonumber(v)) end
    end
  end
  f:close()
  os.remove(asc)
  os.remove(asc:gsub("%.asc$", ".prj"))
  os.remove(asc .. ".aux.xml")
  return values
end

local function count(values, id)
  local n = 0
  for _, v in ipairs(values) do if v == id then n = n + 1 end end
  return n
end

-- A tiny JSON decoder: enough for `eval --json` (objects, arrays, strings, numbers).
local function json_decode(s)
  local i = 1
  local function ws() i = s:find("%S", i) or #s + 1 end
  local value
  local function str()
    local out = {}
    i = i + 1
    while true do
      local c = s:sub(i, i)
      if c == '"' then i = i + 1 return table.concat(out) end
      if c == "\\" then
        local e = s:sub(i + 1, i + 1)
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(s:sub(i + 2, i + 5), 16))
          i = i + 6
        else
          out[#out + 1] = ({ n = "\n", t = "\t", r = "\r", b = "\b", f = "\f" })[e] or e
          i = i + 2
        end
      else
        out[#out + 1] = c
        i = i + 1
      end
    end
  end
  -- The members of an object or the elements of an array, from its opening bracket at i to
  -- `close`: item() reads one, then a comma goes on to the next.
  local function items(close, item)
    i = i + 1
    ws()
    if s:sub(i, i) == close then i = i + 1 return end
    local c
    repeat
      item()
      ws()
      c = s:sub(i, i)
      i = i + 1
    until c ~= ","
    assert(c == close, "expected '" .. close .. "'")
  end
  value = function()
    ws()
    local c = s:sub(i, i)
    if c == "{" then
      local t = {}
      items("}", function()
        ws()
        local k = str()
        ws()
        assert(s:sub(i, i) == ":", "expected ':' at " .. i)
        i = i + 1
        t[k] = value()
      end)
      return t
    elseif c == "[" then
      local t = {}
      items("]", function() t[#t + 1] = value() end)
      return t
    elseif c == '"' then
      return str()
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
      assert(num and #num > 0, "unexpected '" .. c .. "' at " .. i)
      i = i + #num
      return math.tointeger(tonumber(num)) or tonumber(num)
    end
  end
  local v = value()
  ws()
  assert(i > #s, "trailing characters after the JSON value")
  return v
end

-- The scene of most tests: 40 × 30 labels, class 1 on the left half (600 pixels), 2 top right
-- (400), 3 bottom right columns 20..29 (100); a 3-band image whose band b is 10·b + class.
local W, H = 40, 30
local function class_at(x, y) return x < 20 and 1 or y < 20 and 2 or x < 30 and 3 or 0 end
local labels = make_raster(path("labels.tif"), W, H, 1, "UInt16", class_at,
  { names = { "unclassified", "wheat", "maize", 'bar"ley' } })
local image = make_raster(path("image.tif"), W, H, 3, "Int16",
  function(x, y, b) return 10 * b + class_at(x, y) end)

describe("cn.data.samples", function()
  it("returns the labelled pixels, 1-based class indices and the named classes", function()
    local x, y, classes, info = cn.data.samples(image, labels)
    assert.same({ 1100, 3 }, { x:size(1), x:size(2) })
    assert.equal(1100, y:numel())
    assert.equal(3, #classes)
    assert.same({ 1, "wheat", "#010203" }, { classes[1].id, classes[1].name, classes[1].color })
    assert.equal('bar"ley', classes[3].name)
    assert.equal(0, info.skipped)
    -- the first sample is pixel (0, 0): class 1, bands 11, 21, 31
    assert.same({ 11, 21, 31 }, x:totable()[1])
    assert.equal(1, y:totable()[1])
    assert.same({ 0, 0 }, info.positions:totable()[1])
  end)

  it("skips pixels that are nodata in the image and counts them", function()
    local holes = make_raster(path("holes.tif"), W, H, 3, "Int16", function(x, y, b)
      return (x == 0 and b == 2) and -9999 or 10 * b + class_at(x, y)
    end, { nodata = -9999 })
    local x, _, _, info = cn.data.samples(holes, labels)
    assert.equal(30, info.skipped)
    assert.equal(1070, x:size(1))
  end)

  it("returns nil and a message naming the labels when their grid differs", function()
    local moved = make_raster(path("moved.tif"), W, H, 1, "UInt16", class_at, { x0 = 500010 })
    local x, err = cn.data.samples(image, moved)
    assert.is_nil(x)
    assert.truthy(err:find("moved.tif: different georeference from the image", 1, true))
    local small = make_raster(path("small.tif"), W - 1, H, 1, "UInt16", class_at)
    x, err = cn.data.samples(image, small)
    assert.is_nil(x)
    assert.truthy(err:find("small.tif: is 39 x 30, the image " .. image .. " is 40 x 30", 1, true))
  end)
end)

describe("cn.data.band_stats", function()
  it("gives the population mean and std, with 1 for a constant band", function()
    local mean, std = cn.data.band_stats(cn.tensor { { 1, 5 }, { 3, 5 } })
    assert.same({ 2, 5 }, mean:totable())
    assert.same({ 1, 1 }, std:totable())
  end)
end)

describe("cn.data.split", function()
  it("writes train and test beside the labels by default", function()
    local train, test, counts = cn.data.split(labels, { train_fraction = 0.1, seed = 1 })
    assert.equal(path("labels_train.tif"), train)
    assert.equal(path("labels_test.tif"), test)
    assert.same({ 110, 990, 0 }, { counts.train, counts.test, counts.dropped })
    local tr, te = read_raster(train), read_raster(test)
    assert.same({ 60, 40, 10 }, { count(tr, 1), count(tr, 2), count(tr, 3) })
    assert.same({ 540, 360, 90 }, { count(te, 1), count(te, 2), count(te, 3) })
    for i = 1, W * H do assert.is_true(tr[i] == 0 or te[i] == 0) end
  end)

  it("gives the same split for the same seed", function()
    local opts = { per_class = 7, seed = 99, train = path("a.tif"), test = path("b.tif") }
    cn.data.split(labels, opts)
    local first = read_raster(path("a.tif"))
    cn.data.split(labels, opts)
    assert.same(first, read_raster(path("a.tif")))
    assert.equal(21, W * H - count(first, 0))
  end)

  it("returns nil and the reason for a class with too few pixels, writing nothing", function()
    local train, err = cn.data.split(labels, { per_class = 150, train = path("x.tif"), test = path("y.tif") })
    assert.is_nil(train)
    assert.equal(labels .. ": class 3 has 100 labelled pixels, fewer than the 150 asked (--per-class)", err)
    assert.is_false(clitest.exists(path("x.tif")) or clitest.exists(path("y.tif")))
  end)

  it("raises on an unknown option", function()
    assert.has_error(function() cn.data.split(labels, { fraction = 0.1 }) end,
      "cn.data.split: unknown option 'fraction'")
  end)
end)

describe("cn.evaluate", function()
  -- map = labels except: 10 pixels of class 1 called 2, 5 of class 3 left at 0
  local map = make_raster(path("map.tif"), W, H, 1, "UInt16", function(x, y)
    if x == 0 and y < 10 then return 2 end
    if x == 20 and y >= 25 then return 0 end
    return class_at(x, y)
  end)

  it("gives the hand-computed figures", function()
    local r = cn.evaluate(map, labels)
    -- rows 1, 2, 3; columns 1, 2, 3, 0
    assert.same({ { 590, 10, 0, 0 }, { 0, 400, 0, 0 }, { 0, 0, 95, 5 } }, r.confusion)
    assert.same({ 1, 2, 3, 0 }, r.predicted_ids)
    assert.near(1085 / 1100, r.oa, 1e-12)
    assert.near((590 / 600 + 1 + 95 / 100) / 3, r.aa, 1e-12)
    local pe = (600 * 590 + 400 * 410 + 100 * 95) / 1100 ^ 2
    assert.near((1085 / 1100 - pe) / (1 - pe), r.kappa, 1e-12)
    assert.near(400 / 410, r.classes[2].precision, 1e-12)
    assert.equal("maize", r.classes[2].name)
    assert.equal(100, r.classes[3].support)
  end)

  it("returns nil and a message for a missing map", function()
    local r, err = cn.evaluate(path("none.tif"), labels)
    assert.is_nil(r)
    assert.equal(path("none.tif") .. ": no such file", err)
  end)

  it("is what `cropnet eval --json` prints", function()
    local res = clitest.run("eval", map, labels, "--json")
    assert.equal(0, res.code, res.stderr)
    assert.truthy(res.stdout:match("^{.*}\n$"))
    local j = json_decode(res.stdout)
    local r = cn.evaluate(map, labels)
    assert.same({ r.oa, r.aa, r.kappa }, { j.oa, j.aa, j.kappa })
    assert.same(r.confusion, j.confusion)
    assert.same(r.predicted_ids, j.predicted_ids)
    assert.same({ 'bar"ley', 100 }, { j.classes[3].name, j.classes[3].support })
    assert.equal(r.classes[1].f1, j.classes[1].f1)
  end)

  it("prints a table by default", function()
    local res = clitest.run("eval", map, labels)
    assert.equal(0, res.code, res.stderr)
    assert.truthy(res.stdout:find("overall accuracy  0.9864", 1, true))
    assert.truthy(res.stdout:find("maize", 1, true))
  end)
end)

-- Lon/lat of UTM 33N points, through gdaltransform.
local function to_lonlat(points)
  local lines = {}
  for _, p in ipairs(points) do lines[#lines + 1] = p[1] .. " " .. p[2] end
  write(path("pts.txt"), table.concat(lines, "\n") .. "\n")
  local p = io.popen("gdaltransform -s_srs EPSG:32633 -t_srs EPSG:4326 -output_xy < " .. q(path("pts.txt")))
  local out = p:read("a")
  p:close()
  local res = {}
  for x, y in out:gmatch("(%S+)%s+(%S+)") do res[#res + 1] = string.format("[%.10f, %.10f]", tonumber(x), tonumber(y)) end
  return res
end

-- A lon/lat ring around the centres of pixel columns c0..c1 and rows r0..r1 of the 10 m UTM
-- grid: its edges lie 3 m outside those centres, 7 m short of the next ones.
local function ring(c0, c1, r0, r1)
  local x0, x1 = 500000 + 10 * c0 + 2, 500000 + 10 * c1 + 8
  local y0, y1 = 4000000 - 10 * r0 - 2, 4000000 - 10 * r1 - 8
  local p = to_lonlat({ { x0, y0 }, { x1, y0 }, { x1, y1 }, { x0, y1 }, { x0, y0 } })
  return "[[" .. table.concat(p, ", ") .. "]]"
end

local function feature(geometry, props)
  return string.format('{"type": "Feature", "properties": %s, "geometry": %s}', props, geometry)
end

describe("cn.data.labels_from_vector", function()
  local img = make_raster(path("small_img.tif"), 10, 8, 2, "Int16", function(x, y, b) return x + y + b end)
  local geojson = path("parcels.geojson")
  write(geojson, '{"type": "FeatureCollection", "features": [' .. table.concat({
    feature('{"type": "Polygon", "coordinates": ' .. ring(1, 3, 2, 4) .. "}", '{"crop": "wheat", "n": 3}'),
    feature('{"type": "Polygon", "coordinates": ' .. ring(6, 8, 0, 1) .. "}", '{"crop": "barley", "n": 1}'),
    feature('{"type": "Point", "coordinates": ' .. to_lonlat({ { 500095, 3999925 } })[1] .. "}",
      '{"crop": "maize", "n": 2}'),
  }, ", ") .. "]}")

  it("burns text classes in sorted order onto the image grid, with their names", function()
    local out, classes = cn.data.labels_from_vector(geojson, "crop", img, path("burnt.tif"))
    assert.equal(path("burnt.tif"), out)
    assert.same({ "barley", "maize", "wheat" }, { classes[1].name, classes[2].name, classes[3].name })
    local v = read_raster(out)
    local function at(c, r) return v[r * 10 + c + 1] end
    assert.equal(9 + 6 + 1, 80 - count(v, 0))
    for r = 2, 4 do for c = 1, 3 do assert.equal(3, at(c, r)) end end -- wheat
    for r = 0, 1 do for c = 6, 8 do assert.equal(1, at(c, r)) end end -- barley
    assert.equal(2, at(9, 7))                                          -- the maize point
    assert.equal(0, at(0, 0))
    local _, y, cls = cn.data.samples(img, out)
    assert.equal(16, y:numel())
    assert.equal("wheat", cls[3].name)
  end)

  it("reads points with an integer class from a GeoPackage in another CRS", function()
    local gpkg = path("points.gpkg")
    os.remove(gpkg)
    sh("ogr2ogr -f GPKG -t_srs EPSG:3857 " .. q(gpkg) .. " " .. q(geojson) .. " -where \"crop = 'maize'\"")
    local out, classes = cn.data.labels_from_vector(gpkg, "n", img)
    assert.equal(2, classes[1].id)
    local v = read_raster(out)
    assert.equal(1, 80 - count(v, 0))
    assert.equal(2, v[7 * 10 + 9 + 1])
  end)

  it("removes a temporary label raster when the Lua state closes", function()
    write(path("temp.lua"), string.format([[
      local cn = require "cropnet"
      local out = assert(cn.data.labels_from_vector(%q, "crop", %q))
      assert(io.open(out)):close()
      print(out)
    ]], geojson, img))
    local res = clitest.run("run", path("temp.lua"))
    assert.equal(0, res.code, res.stderr)
    local out = res.stdout:match("^(.-)\n$")
    assert.truthy(out:find("/cropnet%-labels%-"))
    assert.is_false(clitest.exists(out))
    assert.is_false(clitest.exists((out:gsub("/labels%.tif$", ""))))
  end)

  it("names the available fields when the field is missing", function()
    local out, err = cn.data.labels_from_vector(geojson, "class", img, path("none.tif"))
    assert.is_nil(out)
    assert.equal(geojson .. ": no field 'class' (fields: crop, n)", err)
    assert.is_false(clitest.exists(path("none.tif")))
  end)

  it("refuses features that miss the image", function()
    local far = path("far.tif")
    make_raster(far, 10, 8, 1, "Int16", function() return 1 end, { x0 = 600000 })
    local out, err = cn.data.labels_from_vector(geojson, "crop", far, path("none.tif"))
    assert.is_nil(out)
    assert.truthy(err:find("no feature with a class in 'crop' overlaps the image", 1, true))
  end)
end)

describe("cropnet split", function()
  it("splits, prints the counts and keeps names in both outputs", function()
    local res = clitest.run("split", labels, "--train", path("tr.tif"), "--test", path("te.tif"),
      "--train-fraction", "0.2", "--seed", "4", "--block", "5")
    assert.equal(0, res.code, res.stderr)
    assert.truthy(res.stdout:find("total", 1, true))
    local info = clitest.gdalinfo(path("te.tif"))
    assert.truthy(info:find("maize", 1, true))
    local tr, te = read_raster(path("tr.tif")), read_raster(path("te.tif"))
    for i = 1, W * H do assert.is_true(tr[i] == 0 or te[i] == 0) end
    assert.equal(1100, W * H - count(tr, 0) + W * H - count(te, 0))
  end)

  it("rasterises a vector file given --field and --image", function()
    local geojson = path("parcels.geojson")
    local res = clitest.run("split", geojson, "--field", "crop", "--image", path("small_img.tif"),
      "--train", path("vtr.tif"), "--test", path("vte.tif"), "--per-class", "1", "-q")
    assert.equal(0, res.code, res.stderr)
    assert.equal("", res.stdout)
    assert.equal(3, 80 - count(read_raster(path("vtr.tif")), 0))
  end)

  it("fails in one line and writes nothing when a class has too few pixels", function()
    local res = clitest.run("split", labels, "--train", path("f1.tif"), "--test", path("f2.tif"),
      "--per-class", "101")
    assert.is_true(clitest.one_line_error(res))
    assert.equal("cropnet: split: " .. labels .. ": class 3 has 100 labelled pixels, fewer than the "
      .. "101 asked (--per-class)\n", res.stderr)
    assert.is_false(clitest.exists(path("f1.tif")) or clitest.exists(path("f2.tif")))
  end)

  it("refuses a label raster without a labelled pixel", function()
    local empty = make_raster(path("empty.tif"), 4, 4, 1, "UInt16", function() return 0 end)
    local res = clitest.run("split", empty, "--train", path("f1.tif"), "--test", path("f2.tif"))
    assert.is_true(clitest.one_line_error(res))
    assert.truthy(res.stderr:find("has no labelled pixel", 1, true))
  end)

  it("refuses a fraction outside (0, 1)", function()
    local res = clitest.run("split", labels, "--train", path("f1.tif"), "--test", path("f2.tif"),
      "--train-fraction", "1")
    assert.is_true(clitest.one_line_error(res))
    assert.truthy(res.stderr:find("--train-fraction must be in (0, 1)", 1, true))
  end)
end)
