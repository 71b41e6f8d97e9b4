-- classify_spec: `cropnet classify` end to end and the Lua API behind it (cn.raster, cn.classify):
-- the crop map's georeference, colour table, class names and nodata; the optional outputs;
-- creation options; every bad input refused in one line with no file left; cancel, errors in the
-- progress callback and SIGINT/SIGTERM leave nothing behind.
local clitest = require "clitest"
local rastertest = require "rastertest"
local cn = require "cropnet"

local q = clitest.quote
local dir, path = clitest.workdir("classify_spec")

local function listing() return clitest.listing(dir) end

local write = clitest.write

local read = clitest.read

-- A W × H × bands Int16 GeoTIFF (UTM 22N, 30 m); value(x, y, b) gives the pixels, `extra` more
-- gdal_translate options.
local function make_image(file, w, h, bands, value, extra)
  rastertest.write(file, w, h, bands, "Int16", value,
    { epsg = 32622, x0 = 600000, y0 = 5000000, pixel = 30, options = extra })
end

local function pattern(x, y, b) return (x * 7 + y * 13 + b * 29) % 200 + (b == 1 and x // 10 * 20 or 0) end

local CLASSES = '[{"id": 1, "name": "Water"}, {"id": 2, "name": "Forest", "color": "#228b22"}, ' ..
  '{"id": 5, "name": "Fields"}, {"id": 9, "name": "Urban"}]'

-- A per-pixel model for `bands` bands and the four classes above, with its raster metadata.
local function make_model(file, bands)
  cn.manual_seed(3)
  local net = cn.nn.Sequential { cn.nn.Linear(bands, 8), cn.nn.ReLU(), cn.nn.Linear(8, 4) }
  local m = cn.model(net, { bands = tostring(bands), classes = CLASSES, input = "pixel",
    receptive_field = "1" })
  local mean, std = {}, {}
  for b = 1, bands do mean[b], std[b] = 100, 50 end
  m:set_tensor("norm.mean", cn.tensor(mean))
  m:set_tensor("norm.std", cn.tensor(std))
  if file then assert(m:save(file)) end
  return m
end

local image, model = path("field.tif"), path("field.cropnet")
make_image(image, 61, 47, 3, pattern)
make_model(model, 3)

local gdalinfo = clitest.gdalinfo

-- Distinct values of a one-band raster, through the Lua API.
local function classes_in(file)
  local r <close> = assert(cn.raster.open(file))
  local ids = r:read_labels()
  local seen = {}
  for i = 1, ids:numel() do seen[math.tointeger(ids:get(i))] = true end
  return seen
end

describe("cropnet classify", function()
  it("writes a crop map with the image's georeference, colours, class names and nodata 0", function()
    local out = path("map.tif")
    local r = clitest.run("classify", image, model, "-o", out)
    assert.equal(0, r.code, r.stderr)
    assert.equal("", r.stderr) -- no progress bar when stderr is not a terminal
    local info, src = gdalinfo(out), gdalinfo(image)
    assert.matches("Type=Byte, ColorInterp=Palette", info, 1, true)
    assert.matches("NoData Value=0", info, 1, true)
    assert.matches("Color Table", info, 1, true)
    assert.matches("2: 34,139,34,255", info, 1, true)
    assert.matches("0: unclassified", info, 1, true)
    assert.matches("9: Urban", info, 1, true)
    assert.matches("Block=256x256", info, 1, true)
    assert.matches("COMPRESSION=DEFLATE", info, 1, true)
    assert.equal(src:match("Origin = %b()"), info:match("Origin = %b()"))
    assert.equal(src:match("Pixel Size = %b()"), info:match("Pixel Size = %b()"))
    assert.matches('ID["EPSG",32622]]', info, 1, true)
    local seen = classes_in(out)
    local n = 0
    for id in pairs(seen) do
      assert.is_true(id == 1 or id == 2 or id == 5 or id == 9)
      n = n + 1
    end
    assert.is_true(n >= 2)
  end)

  it("gives the same map as cn.classify from Lua", function()
    local out, lua_out = path("cli_map.tif"), path("lua_map.tif")
    assert.equal(0, clitest.run("classify", image, model, "-o", out, "--tile", "16").code)
    assert.is_true(cn.classify { model = model, image = image, output = lua_out })
    local a <close> = assert(cn.raster.open(out))
    local b <close> = assert(cn.raster.open(lua_out))
    assert.same(b:read_labels():totable(), a:read_labels():totable())
  end)

  it("writes confidence and per-class probabilities on request", function()
    local out, conf, prob = path("m2.tif"), path("conf.tif"), path("prob.tif")
    local r = clitest.run("classify", image, model, "-o", out, "--confidence", conf,
      "--probabilities", prob)
    assert.equal(0, r.code, r.stderr)
    local ci, pi = gdalinfo(conf), gdalinfo(prob)
    assert.matches("Type=Float32", ci, 1, true)
    assert.matches("NoData Value=0", ci, 1, true)
    assert.matches("Band 4 ", pi, 1, true)
    assert.matches("Description = Fields", pi, 1, true)
    assert.matches("NoData Value=-1", pi, 1, true)
    local c <close> = assert(cn.raster.open(conf))
    local p <close> = assert(cn.raster.open(prob))
    local cv, pv = c:read(0, 0, 5, 1), p:read(0, 0, 5, 1)
    for i = 1, 5 do
      local sum, top = 0, 0
      for k = 1, 4 do
        sum = sum + pv:get(i, k)
        top = math.max(top, pv:get(i, k))
      end
      assert.is_true(math.abs(sum - 1) < 1e-5)
      assert.is_true(math.abs(top - cv:get(i, 1)) < 1e-6)
    end
  end)

  it("passes creation options through -co", function()
    local out = path("lzw.tif")
    local r = clitest.run("classify", image, model, "-o", out, "-co", "COMPRESS=LZW")
    assert.equal(0, r.code, r.stderr)
    assert.matches("COMPRESSION=LZW", gdalinfo(out), 1, true)
  end)

  it("gives unclassified (0) to pixels that are nodata in the image", function()
    local img = path("holes.tif")
    make_image(img, 20, 10, 3, function(x, y, b) return (x < 5 and b == 2) and -9999 or pattern(x, y, b) end,
      "-a_nodata -9999")
    local out = path("holes_map.tif")
    assert.equal(0, clitest.run("classify", img, model, "-o", out).code)
    local r <close> = assert(cn.raster.open(out))
    local ids = r:read_labels(0, 0, 6, 1)
    for i = 1, 5 do assert.equal(0, ids:get(i)) end
    assert.is_true(ids:get(6) > 0)
  end)

  it("draws GDAL's progress bar on a terminal, and not with -q", function()
    local cmd = table.concat({ q(clitest.bin), "classify", q(image), q(model), "-o", q(path("tty.tif")) }, " ")
    local r = clitest.sh("script -qec " .. q(cmd) .. " /dev/null")
    assert.equal(0, r.code, r.stdout .. r.stderr)
    assert.matches("0...10...20...30...40...50...60...70...80...90...100 - done.", r.stdout, 1, true)
    r = clitest.sh("script -qec " .. q(cmd .. " -q") .. " /dev/null")
    assert.equal(0, r.code)
    assert.equal("", r.stdout)
  end)
end)

describe("cropnet classify refuses", function()
  -- Runs classify expecting a one-line error naming `named` and the folder unchanged (no output,
  -- no temporary).
  local function refused(named, ...)
    local before = listing()
    local r = clitest.run("classify", ...)
    clitest.assert_refused(r, "cropnet: classify: ")
    assert.matches(named, r.stderr, 1, true)
    assert.equal(before, listing()) -- no new file (an existing one stays)
    return r.stderr
  end

  it("a missing image", function()
    local err = refused(path("nope.tif"), path("nope.tif"), model, "-o", path("o1.tif"))
    assert.matches("no such file", err, 1, true)
  end)

  it("a missing model", function()
    refused(path("nope.cropnet"), image, path("nope.cropnet"), "-o", path("o1.tif"))
  end)

  it("a file that is not a raster", function()
    local txt = path("notes.txt")
    write(txt, "not pixels\n")
    local err = refused(txt, txt, model, "-o", path("o2.tif"))
    assert.matches("not a raster GDAL can read", err, 1, true)
  end)

  it("a truncated GeoTIFF", function()
    local cut = path("cut.tif")
    make_image(cut, 200, 150, 3, pattern, "-co TILED=YES -co BLOCKXSIZE=32 -co BLOCKYSIZE=32 -co COMPRESS=DEFLATE")
    local bytes = read(cut)
    write(cut, bytes:sub(1, #bytes // 2))
    refused(cut, cut, model, "-o", path("o3.tif"))
  end)

  it("a corrupt GeoTIFF header", function()
    local bad = path("corrupt.tif")
    local bytes = read(image)
    write(bad, bytes:sub(1, 8) .. string.rep("\255", 64) .. bytes:sub(73))
    refused(bad, bad, model, "-o", path("o4.tif"))
  end)

  it("zero-size rasters", function()
    local empty, vrt = path("empty.tif"), path("zero.vrt")
    write(empty, "")
    write(vrt, '<VRTDataset rasterXSize="0" rasterYSize="5"><VRTRasterBand dataType="Byte" band="1"/></VRTDataset>')
    refused(empty, empty, model, "-o", path("o5.tif"))
    refused(vrt, vrt, model, "-o", path("o5.tif"))
  end)

  it("a band count the model does not expect, keeping an existing map", function()
    local two = path("two.tif")
    make_image(two, 10, 10, 2, pattern)
    local out = path("existing.tif")
    write(out, "an older map")
    local err = refused(two, two, model, "-o", out)
    assert.matches("has 2 bands, the model expects 3", err, 1, true)
    assert.equal("an older map", read(out))
  end)

  it("an output folder that cannot be written", function()
    local ro = path("readonly")
    os.execute("mkdir -p " .. q(ro) .. " && chmod 555 " .. q(ro))
    -- root writes anywhere a mode allows; /proc refuses new files even to root
    local root = io.popen("id -u"):read("l") == "0"
    local out = root and "/proc/cropnet_map.tif" or ro .. "/map.tif"
    local r = clitest.run("classify", image, model, "-o", out)
    clitest.assert_refused(r, out, out)
    assert.equal("", io.popen("ls -A " .. q(ro)):read("a"))
  end)

  it("an output path equal to the input", function()
    local copy = path("self.tif")
    write(copy, read(image))
    local err = refused(copy, copy, model, "-o", copy)
    assert.matches("also an input", err, 1, true)
    assert.equal(read(image), read(copy))
  end)

  it("a model that is not a raster model", function()
    local plain = path("plain.cropnet")
    assert(cn.model(cn.nn.Linear(3, 4)):save(plain))
    local err = refused(plain, image, plain, "-o", path("o6.tif"))
    assert.matches('"bands"', err, 1, true)
  end)

  it("a misspelt creation option", function()
    refused(path("o7.tif"), image, model, "-o", path("o7.tif"), "-co", "COMPRES=LZW")
  end)
end)

describe("cropnet classify interrupted", function()
  -- A large scene (a VRT stretching the small image) that takes long enough to interrupt.
  local big = path("big.vrt")
  write(big, string.format('<VRTDataset rasterXSize="6000" rasterYSize="6000">%s</VRTDataset>',
    (function()
      local b = {}
      for i = 1, 3 do
        b[i] = string.format('<VRTRasterBand dataType="Int16" band="%d"><SimpleSource>' ..
          '<SourceFilename relativeToVRT="0">%s</SourceFilename><SourceBand>%d</SourceBand>' ..
          '<SrcRect xOff="0" yOff="0" xSize="61" ySize="47"/><DstRect xOff="0" yOff="0" ' ..
          'xSize="6000" ySize="6000"/></SimpleSource></VRTRasterBand>', i, image, i)
      end
      return table.concat(b)
    end)()))

  for _, sig in ipairs { "INT", "TERM" } do
    it("by SIG" .. sig .. " leaves no file", function()
      local out = path("interrupted.tif")
      local before = listing()
      -- start, wait until the temporary map exists (classification under way), then signal
      local script = table.concat({
        q(clitest.bin) .. " classify " .. q(big) .. " " .. q(model) .. " -o " .. q(out) .. " --tile 256 &",
        "pid=$!",
        "for i in $(seq 1 200); do ls " .. q(dir) .. " | grep -q '^interrupted.tmp-' && break; sleep 0.05; done",
        "kill -" .. sig .. " $pid",
        "wait $pid",
      }, "\n")
      local r = clitest.sh("sh -c " .. q(script))
      clitest.assert_refused(r, "interrupted by SIG" .. sig, out)
      assert.equal(before, listing())
    end)
  end
end)

describe("cn.raster", function()
  it("opens a raster and reports its size, georeference and bands", function()
    local r <close> = assert(cn.raster.open(image))
    assert.equal(61, r.width)
    assert.equal(47, r.height)
    assert.equal(3, r.bands)
    local w, h, b = r:size()
    assert.same({ 61, 47, 3 }, { w, h, b })
    local gt, has = r:geotransform()
    assert.is_true(has)
    assert.same({ 600000, 30, 0, 5000000, 0, -30 }, gt)
    assert.matches("32622", r:wkt(), 1, true)
    assert.equal("Int16", r:band_type(1))
    assert.equal(image, r:path())
  end)

  it("reads a window as pixels × bands with a validity mask", function()
    local r <close> = assert(cn.raster.open(image))
    local px, valid = r:read(2, 3, 4, 2)
    assert.same({ 8, 3 }, { px:size(1), px:size(2) })
    assert.equal(pattern(2, 3, 1), px:get(1, 1))
    assert.equal(pattern(5, 4, 3), px:get(8, 3))
    assert.equal(8, valid:numel())
    assert.equal(1, valid:get(8))
  end)

  it("returns nil and a message for a missing or non-raster file", function()
    local r, err = cn.raster.open(path("nope.tif"))
    assert.is_nil(r)
    assert.matches("nope.tif: no such file", err, 1, true)
    write(path("t.txt"), "x")
    r, err = cn.raster.open(path("t.txt"))
    assert.is_nil(r)
    assert.matches("not a raster GDAL can read", err, 1, true)
  end)

  it("raises on a window outside the raster and on a closed handle", function()
    local r = assert(cn.raster.open(image))
    assert.has_error(function() r:read(60, 0, 2, 1) end)
    r:close()
    assert.has_error(function() r:size() end)
  end)

  it("compares grids", function()
    local a <close> = assert(cn.raster.open(image))
    local b <close> = assert(cn.raster.open(path("holes.tif")))
    local same, why = cn.raster.same_grid(a, b)
    assert.is_false(same)
    assert.matches("20 x 10", why, 1, true)
    assert.is_true(cn.raster.same_grid(a, a))
  end)
end)

describe("cn.classify", function()
  it("takes an open raster and a model path", function()
    local r <close> = assert(cn.raster.open(image))
    assert.is_true(cn.classify { model = model, image = r, output = path("h.tif") })
    assert.is_true(clitest.exists(path("h.tif")))
  end)

  it("returns nil and a message for a missing image", function()
    local ok, err = cn.classify { model = model, image = path("nope.tif"), output = path("x.tif") }
    assert.is_nil(ok)
    assert.matches("nope.tif", err, 1, true)
  end)

  it("reports progress up to 1 and cancels when progress returns false", function()
    local seen = {}
    assert.is_true(cn.classify { model = model, image = image, output = path("p.tif"), tile = 16,
      progress = function(f) seen[#seen + 1] = f end })
    assert.equal(0, seen[1])
    assert.equal(1, seen[#seen])
    assert.equal(1 + 4 * 3, #seen) -- 61 × 47 in 16 × 16 tiles
    local before = listing()
    local ok, err = cn.classify { model = model, image = image, output = path("c.tif"), tile = 16,
      progress = function(f) return f < 0.3 end }
    assert.is_nil(ok)
    assert.matches("cancelled", err, 1, true)
    assert.equal(before, listing())
  end)

  it("passes an error raised in progress to the caller and leaves no file", function()
    local before = listing()
    local ok, err = pcall(cn.classify, { model = model, image = image, output = path("e.tif"),
      confidence = path("e_conf.tif"), tile = 16,
      progress = function(f) if f > 0.5 then error("stop here") end end })
    assert.is_false(ok)
    assert.matches("stop here", tostring(err), 1, true)
    assert.equal(before, listing())
  end)

  it("refuses to close a raster it is reading", function()
    local r = assert(cn.raster.open(image))
    local ok, err = pcall(cn.classify, { model = model, image = r, output = path("b.tif"),
      progress = function() r:close() end })
    assert.is_false(ok)
    assert.matches("in use by cn.classify", tostring(err), 1, true)
    assert.equal(61, r.width)
    r:close()
  end)

  it("raises on unknown options and wrong types", function()
    assert.has_error(function() cn.classify { model = model, image = image, output = "x.tif", tiles = 3 } end)
    assert.has_error(function() cn.classify { model = 3, image = image, output = "x.tif" } end)
    assert.has_error(function() cn.classify { model = model, image = image } end)
  end)
end)
