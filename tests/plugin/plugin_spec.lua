-- plugin_spec: the GDAL plugin gdal_CROPNET.so through the real GDAL programs. gdal_translate
-- loads the plugin from GDAL_DRIVER_PATH (the build folder, set by tests/plugin/CMakeLists.txt)
-- and runs the VRTs that `cropnet vrt` writes and the samples: the crop map equals `cropnet
-- classify`'s pixel for pixel with the same colour table and class names, the Lua NDVI equals
-- the formula computed here, and every bad input ends in one GDAL error naming the cause, with
-- gdal_translate exiting non-zero rather than crashing. Concurrent readers are checked by the C
-- test test_plugin_threads.
local clitest = require "clitest"
local cn = require "cropnet"

local q = clitest.quote
local dir, path = clitest.workdir("plugin_spec")

local function ok(r) assert(r.code == 0, r.stderr) return r end

local write = clitest.write

local read = clitest.read

-- gdal_translate IN OUT [options], from folder cwd (default: the scratch folder).
local function translate(input, output, options, cwd)
  return clitest.sh("cd " .. q(cwd or dir) .. " && gdal_translate -q " .. (options or "") .. " " ..
    q(input) .. " " .. q(output))
end

-- The number of pixels where two rasters' band 1 differ (as float32), and the first of them.
local function differences(a_path, b_path)
  local a <close> = assert(cn.raster.open(a_path))
  local b <close> = assert(cn.raster.open(b_path))
  assert.same({ a:size() }, { b:size() })
  local w, h = a:size()
  local n, first = 0, nil
  for y = 0, h - 1 do
    local ra, rb = a:read(0, y, w, 1), b:read(0, y, w, 1)
    for x = 1, w do
      local va, vb = ra:get(x, 1), rb:get(x, 1)
      if va ~= vb and not (va ~= va and vb ~= vb) then
        n = n + 1
        first = first or string.format("(%d, %d): %s vs %s", x - 1, y, va, vb)
      end
    end
  end
  return n, first
end

-- The band's colour table and category names as gdalinfo prints them.
local function palette(file)
  local info = ok(clitest.sh("gdalinfo " .. q(file))).stdout
  local cats = assert(info:match("\n  Categories:\n(.-)\n  Color Table"), info)
  local colours = assert(info:match("(\n  Color Table.*)$"), info)
  return cats, colours
end

-- A small synthetic scene (8 bands, a nodata frame) and a per-pixel model trained on it, with
-- the crop map, confidence and probabilities of `cropnet classify` to compare with.
local image, labels, model = path("field.tif"), path("labels.tif"), path("field.cropnet")
ok(clitest.run("synth", "-o", image, "--labels", labels, "--width", 64, "--height", 48,
  "--bands", 8, "-q"))
ok(clitest.run("train", image, "--labels", labels, "-o", model, "--epochs", 5))
local map, conf, probs = path("map.tif"), path("conf.tif"), path("probs.tif")
ok(clitest.run("classify", image, model, "-o", map, "--confidence", conf, "--probabilities", probs,
  "-q"))

-- A VRT made by `cropnet vrt` (with the given options), translated by gdal_translate; made once.
local made = {}
local function vrt_map(name, ...)
  local vrt, out = path(name .. ".vrt"), path(name .. ".tif")
  if not made[name] then
    ok(clitest.run("vrt", image, model, "-o", vrt, ...))
    ok(translate(vrt, out))
    made[name] = true
  end
  return out, vrt
end

describe("the cropnet pixel function", function()
  it("makes the crop map of cropnet classify, pixel for pixel", function()
    local out = vrt_map("classify")
    assert.same({ 0 }, { differences(map, out) })
    local r <close> = assert(cn.raster.open(out))
    local ids, zeros = r:read_labels(), 0
    for i = 1, ids:numel() do zeros = zeros + (ids:get(i) == 0 and 1 or 0) end
    assert.is_true(zeros > 0 and zeros < ids:numel()) -- the nodata frame is 0, the fields classified
  end)

  it("hands the model's colour table and class names on to the GeoTIFF", function()
    local out = vrt_map("classify")
    local cats, colours = palette(out)
    local want_cats, want_colours = palette(map)
    assert.equal(want_cats, cats)
    assert.equal(want_colours, colours)
    assert.matches("1: Broccoli", cats, 1, true)
  end)

  it("keeps the image's georeference", function()
    local out = vrt_map("classify")
    local a, b = ok(clitest.sh("gdalsrsinfo -o wkt1 " .. q(out))).stdout,
                 ok(clitest.sh("gdalsrsinfo -o wkt1 " .. q(map))).stdout
    assert.equal(b, a)
    local ia, ib = ok(clitest.sh("gdalinfo " .. q(out))).stdout, ok(clitest.sh("gdalinfo " .. q(map))).stdout
    assert.equal(ib:match("Origin = %b()"), ia:match("Origin = %b()"))
    assert.equal(ib:match("Pixel Size = %b()"), ia:match("Pixel Size = %b()"))
  end)

  it("gives cropnet classify's confidence with output=confidence", function()
    local out = vrt_map("confidence", "--output", "confidence")
    assert.same({ 0 }, { differences(conf, out) })
  end)

  it("gives one class's probability with output=probability:CLASS, by id or by name", function()
    local band2 = path("probs_band2.tif")
    ok(translate(probs, band2, "-b 2"))
    assert.same({ 0 }, { differences(band2, (vrt_map("prob_id", "--output", "probability:2"))) })
    assert.same({ 0 }, { differences(band2, (vrt_map("prob_name", "--output", "probability:Celery"))) })
  end)

  it("makes a UInt16 map equal to cropnet classify's for class ids past 255", function()
    cn.manual_seed(2)
    local big = path("ids16.cropnet")
    local m = cn.model(cn.nn.Sequential { cn.nn.Linear(8, 6), cn.nn.ReLU(), cn.nn.Linear(6, 2) },
      { bands = "8", input = "pixel", classes = '[{"id": 1, "name": "low"}, {"id": 300, "name": "b & <c>"}]' })
    m:set_tensor("norm.mean", cn.tensor { 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000 })
    m:set_tensor("norm.std", cn.tensor { 500, 500, 500, 500, 500, 500, 500, 500 })
    assert(m:save(big))
    local want, vrt, got = path("ids16_map.tif"), path("ids16.vrt"), path("ids16.tif")
    ok(clitest.run("classify", image, big, "-o", want, "-q"))
    ok(clitest.run("vrt", image, big, "-o", vrt))
    ok(translate(vrt, got))
    assert.matches("Type=UInt16", ok(clitest.sh("gdalinfo " .. q(got))).stdout, 1, true)
    assert.same({ 0 }, { differences(want, got) })
    assert.same({ palette(want) }, { palette(got) })
  end)

  it("gives the same map when GDAL works with several threads", function()
    local out = path("threads.tif")
    local _, vrt = vrt_map("classify")
    ok(translate(vrt, out, "--config GDAL_NUM_THREADS 2 -co COMPRESS=DEFLATE -co NUM_THREADS=2 " ..
      "-co TILED=YES -co BLOCKXSIZE=16 -co BLOCKYSIZE=16"))
    assert.same({ 0 }, { differences(map, out) })
  end)
end)

-- Runs gdal_translate on a VRT text and returns the result (the output must not appear on error).
local function translate_text(name, text, options)
  local vrt, out = path(name .. ".vrt"), path(name .. ".tif")
  write(vrt, text)
  local r = translate(vrt, out, options)
  if r.code ~= 0 then assert.is_false(clitest.exists(out)) end
  return r, out
end

-- The VRT cropnet vrt writes, edited by a pattern substitution.
local base_vrt
local function edited(pattern, replacement)
  if not base_vrt then
    ok(clitest.run("vrt", image, model, "-o", path("base.vrt")))
    base_vrt = read(path("base.vrt"))
  end
  local text, n = base_vrt:gsub(pattern, replacement)
  assert(n > 0, "pattern not found: " .. pattern)
  return text
end

-- One GDAL error line from the plugin, a non-zero exit and no crash (a signal gives >= 128).
local function plugin_error(r, who, what)
  assert.is_true(r.code > 0 and r.code < 128, "exit code " .. r.code .. ": " .. r.stderr)
  assert.matches("ERROR %d+: " .. who .. ": ", r.stderr)
  assert.matches(what, r.stderr, 1, true)
end

describe("the cropnet pixel function refuses", function()
  it("a missing model", function()
    local r = translate_text("missing", edited('model="[^"]*"', 'model="nowhere/none.cropnet"'))
    plugin_error(r, "cropnet", "nowhere/none.cropnet: no such file")
  end)

  it("a corrupt model", function()
    local bytes = read(model)
    local bad = path("corrupt.cropnet")
    local at = #bytes - 10 -- inside the weights: the checksum no longer matches
    write(bad, bytes:sub(1, at - 1) .. string.char((bytes:byte(at) + 1) % 256) .. bytes:sub(at + 1))
    local r = translate_text("corrupt", edited('model="[^"]*"', 'model="' .. bad .. '"'))
    plugin_error(r, "cropnet", bad .. ": ")
    assert.matches("checksum", r.stderr)
  end)

  it("a truncated model", function()
    local bad = path("truncated.cropnet")
    write(bad, read(model):sub(1, 100))
    local r = translate_text("truncated", edited('model="[^"]*"', 'model="' .. bad .. '"'))
    plugin_error(r, "cropnet", bad .. ": truncated")
  end)

  it("a patch model, pointing to cropnet classify", function()
    local patch = path("patch.cropnet")
    local m = assert(cn.load(model))
    m:set_meta("input", "patch")
    m:set_meta("patch", "5")
    m:set_meta("receptive_field", "5")
    assert(m:save(patch))
    local r = translate_text("patch", edited('model="[^"]*"', 'model="' .. patch .. '"'))
    plugin_error(r, "cropnet", patch .. ": is a patch model")
    assert.matches("cropnet classify", r.stderr, 1, true)
  end)

  it("a band whose sources do not match the model's bands", function()
    local r = translate_text("sources", edited("%s*<SimpleSource>%s*<SourceFilename[^<]*</SourceFilename>%s*" ..
      "<SourceBand>8</SourceBand>%s*</SimpleSource>", ""))
    plugin_error(r, "cropnet", "the band has 7 sources but the model expects 8 bands")
  end)

  it("a class the model does not have", function()
    local r = translate_text("noclass", edited('output="label"', 'output="probability:Rice"'))
    plugin_error(r, "cropnet", "has no class 'Rice'")
  end)

  it("a band without model=", function()
    local r = translate_text("nomodel", edited('model="[^"]*"', ""))
    plugin_error(r, "cropnet", "no model given")
  end)
end)

-- A two-band Float32 VRT over the synthetic image's bands 3 and 5 running a Lua function.
local function lua_vrt(args)
  local w, h = 64, 48
  local function src(b)
    return string.format('<SimpleSource><SourceFilename relativeToVRT="0">%s</SourceFilename>' ..
      "<SourceBand>%d</SourceBand></SimpleSource>", image, b)
  end
  return string.format('<VRTDataset rasterXSize="%d" rasterYSize="%d"><VRTRasterBand ' ..
    'dataType="Float32" band="1" subClass="VRTDerivedRasterBand"><NoDataValue>-2</NoDataValue>' ..
    "<PixelFunctionType>cropnet_lua</PixelFunctionType><PixelFunctionArguments %s/>" ..
    "<SourceTransferType>Float32</SourceTransferType>%s%s</VRTRasterBand></VRTDataset>",
    w, h, args, src(3), src(5))
end

local scripts = path("scripts.lua")
write(scripts, [[
local cn = require "cropnet"
function ratio(a, b) return (b - a) / (b + a) end
function boom() error("the sky fell") end
function word() return "forty-two" end
function nothing() return nil end
function ratio_block(x, info)
  assert(x:size(1) == info.width * info.height and x:size(2) == info.sources)
  local y = cn.zeros(info.width * info.height)
  for i = 1, info.width * info.height do
    local a, b = x:get(i, 1), x:get(i, 2)
    y:set(i, (b - a) / (b + a))
  end
  return y
end
function short_block(x, info) return cn.zeros(3) end
function opens() return select(2, cn.raster.open("nowhere.tif")) end
]])

describe("the cropnet_lua pixel function", function()
  it("gives pixel mode and buffer mode the same result", function()
    local _, a = translate_text("lua_pixel", lua_vrt(
      string.format('script="%s" function="ratio" nodata="-9999" dstnodata="-2"', scripts)))
    local _, b = translate_text("lua_buffer", lua_vrt(
      string.format('script="%s" function="ratio_block" mode="buffer" nodata="-9999" dstnodata="-2"',
        scripts)))
    assert.is_true(clitest.exists(a) and clitest.exists(b))
    assert.same({ 0 }, { differences(a, b) })
  end)

  it("writes dstnodata where a source holds its nodata value and where the function returns nil",
    function()
      local _, out = translate_text("lua_nil", lua_vrt(
        string.format('script="%s" function="nothing" nodata="-9999" dstnodata="-2"', scripts)))
      local r <close> = assert(cn.raster.open(out))
      local px, valid = r:read()
      for i = 1, valid:numel() do assert.equal(-2, px:get(i, 1)) end
    end)

  it("runs code given in the VRT only when CROPNET_LUA_ENABLE=YES", function()
    local text = lua_vrt('code="return function(a, b) return a + b end"')
    local r = translate_text("lua_code", text)
    plugin_error(r, "cropnet_lua", "CROPNET_LUA_ENABLE")
    ok((translate_text("lua_code_yes", text, "--config CROPNET_LUA_ENABLE YES")))
  end)

  it("reports a script that raises with the script's message", function()
    local r = translate_text("lua_boom", lua_vrt(string.format('script="%s" function="boom"', scripts)))
    plugin_error(r, "cropnet_lua", "scripts.lua:3: the sky fell") -- Lua shortens long paths
  end)

  it("reports a function that returns the wrong type", function()
    local r = translate_text("lua_word", lua_vrt(string.format('script="%s" function="word"', scripts)))
    plugin_error(r, "cropnet_lua", "function 'word' returned a string")
  end)

  it("reports a buffer function that returns the wrong number of values", function()
    local r = translate_text("lua_short", lua_vrt(
      string.format('script="%s" function="short_block" mode="buffer"', scripts)))
    plugin_error(r, "cropnet_lua", "function 'short_block' returned a tensor (3)")
  end)

  it("reports a missing script and a missing function", function()
    plugin_error(translate_text("lua_noscript", lua_vrt('script="nowhere.lua" function="f"')),
      "cropnet_lua", "cannot open nowhere.lua")
    plugin_error(translate_text("lua_nofn", lua_vrt(string.format('script="%s" function="absent"',
      scripts))), "cropnet_lua", "defines no function 'absent'")
  end)

  it("leaves GDAL's error reporting on after a script's own GDAL calls", function()
    -- the core quiets GDAL on a thread it first uses; on gdal_translate's thread that must not
    -- outlive the script, or the next error would go unreported
    local r = translate_text("lua_gdal", lua_vrt(string.format('script="%s" function="opens"', scripts)))
    plugin_error(r, "cropnet_lua", "function 'opens' returned a string")
  end)

  it("reports a script with a syntax error", function()
    local bad = path("syntax.lua")
    write(bad, "function f(a, b) return a + end\n")
    plugin_error(translate_text("lua_syntax", lua_vrt(string.format('script="%s" function="f"', bad))),
      "cropnet_lua", "syntax.lua:1:")
  end)
end)

describe("samples/landsat_ndvi.vrt", function()
  local b3 = clitest.data("landsat/LT52240631988227CUB02_B3.TIF")
  local b4 = clitest.data("landsat/LT52240631988227CUB02_B4.TIF")
  if not (b3 and b4) then
    pending("../shared/data/landsat is absent: the NDVI sample is not checked")
    return
  end

  it("equals NDVI computed directly from the Landsat bands", function()
    local out = path("ndvi.tif")
    ok(translate("samples/landsat_ndvi.vrt", out, nil, clitest.source))
    local red <close> = assert(cn.raster.open(b3))
    local nir <close> = assert(cn.raster.open(b4))
    local got <close> = assert(cn.raster.open(out))
    local w, h = red:size()
    assert.same({ w, h, 1 }, { got:size() })
    local rv, rok = red:read()
    local nv, nok = nir:read()
    local gv = got:read()
    local mismatches, nodata = 0, 0
    for i = 1, w * h do
      local r, n = rv:get(i, 1), nv:get(i, 1)
      local want = -9999
      if rok:get(i) == 1 and nok:get(i) == 1 and n + r ~= 0 then
        want = string.unpack("f", string.pack("f", (n - r) / (n + r))) -- rounded to float32
      end
      if want == -9999 then nodata = nodata + 1 end
      if gv:get(i, 1) ~= want then mismatches = mismatches + 1 end
    end
    assert.equal(0, mismatches)
    assert.is_true(nodata < w * h)
  end)
end)

describe("samples/landsat_classify.vrt", function()
  local bands = {}
  for _, b in ipairs { 1, 2, 3, 4, 5, 7 } do
    bands[#bands + 1] = clitest.data(string.format("landsat/LT52240631988227CUB02_B%d.TIF", b))
  end
  if #bands < 6 then
    pending("../shared/data/landsat is absent: the classifying sample is not checked")
    return
  end

  it("classifies the six Landsat bands as cropnet classify does their stack", function()
    -- a model with the sample's classes at the place the sample names (landsat-demo/, relative to
    -- the working folder); random weights: agreement is tested, not accuracy
    local work = path("landsat")
    os.execute("mkdir -p " .. q(work .. "/landsat-demo"))
    local stack, lmodel = work .. "/stack.vrt", work .. "/landsat-demo/landsat.cropnet"
    local quoted = {}
    for i, b in ipairs(bands) do quoted[i] = q(b) end
    ok(clitest.sh("gdalbuildvrt -q -separate " .. q(stack) .. " " .. table.concat(quoted, " ")))
    cn.manual_seed(5)
    local m = cn.model(cn.nn.Sequential { cn.nn.Linear(6, 12), cn.nn.Tanh(), cn.nn.Linear(12, 3) },
      { bands = "6", input = "pixel", classes = '[{"id": 1, "name": "cleared"}, ' ..
        '{"id": 2, "name": "forest"}, {"id": 3, "name": "water"}]' })
    m:set_tensor("norm.mean", cn.tensor { 60, 25, 25, 50, 50, 20 })
    m:set_tensor("norm.std", cn.tensor { 10, 8, 10, 20, 25, 12 })
    assert(m:save(lmodel))
    local want, got = work .. "/map.tif", work .. "/sample.tif"
    ok(clitest.run("classify", stack, lmodel, "-o", want, "-q"))
    ok(translate(clitest.source .. "/samples/landsat_classify.vrt", got, nil, work))
    assert.same({ 0 }, { differences(want, got) })
    local cats, colours = palette(got)
    local want_cats, want_colours = palette(want)
    assert.equal(want_cats, cats)
    assert.equal(want_colours, colours)
  end)
end)

describe("cropnet vrt", function()
  it("refuses a patch model in one line, pointing to cropnet classify, and writes nothing", function()
    local patch, out = path("patch2.cropnet"), path("patch2.vrt")
    local m = assert(cn.load(model))
    m:set_meta("input", "patch")
    assert(m:save(patch))
    local r = clitest.run("vrt", image, patch, "-o", out)
    assert.is_true(clitest.one_line_error(r), r.stderr)
    assert.matches("cropnet classify", r.stderr, 1, true)
    assert.is_false(clitest.exists(out))
  end)

  it("refuses an image whose band count differs from the model's", function()
    local rgb, out = path("rgb.tif"), path("rgb.vrt")
    ok(translate(image, rgb, "-b 1 -b 2 -b 3"))
    local r = clitest.run("vrt", rgb, model, "-o", out)
    assert.is_true(clitest.one_line_error(r), r.stderr)
    assert.matches("has 3 bands, the model expects 8", r.stderr, 1, true)
    assert.is_false(clitest.exists(out))
  end)

  it("refuses an output kind it does not know and a class the model does not have", function()
    for _, kind in ipairs { "labels", "probability:Rice" } do
      local r = clitest.run("vrt", image, model, "-o", path("kind.vrt"), "--output", kind)
      assert.is_true(clitest.one_line_error(r), r.stderr)
      assert.is_false(clitest.exists(path("kind.vrt")))
    end
  end)

  it("refuses to overwrite its image", function()
    local copy = path("copy.tif")
    ok(translate(image, copy))
    local r = clitest.run("vrt", copy, model, "-o", copy)
    assert.is_true(clitest.one_line_error(r), r.stderr)
    assert.is_true(cn.raster.open(copy) ~= nil)
  end)

  it("names the model and the image by absolute paths and writes the image's nodata", function()
    local r = clitest.sh("cd " .. q(dir) .. " && " .. q(clitest.bin) .. " vrt field.tif field.cropnet -o rel.vrt")
    assert.equal(0, r.code, r.stderr)
    local text = read(path("rel.vrt"))
    assert.matches('model="/', text, 1, true)
    assert.matches('relativeToVRT="0">/', text, 1, true)
    assert.matches('nodata="-9999"', text, 1, true)
  end)
end)
