-- scene_spec: where scenes come from, from Lua and from the command line: cn.scene.import and
-- mat_variables on SalinasA as distributed (../shared/data/hsi), benchmark class tables, the
-- synthetic scene (cn.scene.synth); `cropnet import` and `cropnet synth` end to end, their --help,
-- one-line errors and that a failure leaves no file.
local clitest = require "clitest"
local cn = require "cropnet"

local q = clitest.quote
local dir, path = clitest.workdir("scene_spec")

local salinas = clitest.data("hsi/SalinasA_corrected.mat")
local salinas_gt = clitest.data("hsi/SalinasA_gt.mat")
local function need_data()
  if not salinas then
    pending("../shared/data/hsi is absent: SalinasA tests skipped")
    return false
  end
  return true
end

-- The files of the scratch folder matching a Lua pattern (temporaries included).
local function files(pattern)
  local out, p = {}, io.popen("ls -A " .. q(dir))
  for name in p:lines() do
    if name:match(pattern) then out[#out + 1] = name end
  end
  p:close()
  return out
end

-- The first `bytes` bytes of src copied to dst.
local function cut(src, dst, bytes)
  local f = assert(io.open(src, "rb"))
  local data = f:read(bytes)
  f:close()
  local g = assert(io.open(dst, "wb"))
  g:write(data or "")
  g:close()
end

local gdalinfo = clitest.gdalinfo

describe("cn.scene.benchmark_classes", function()
  it("gives the Salinas table for SalinasA's variable and file names", function()
    local classes, key = cn.scene.benchmark_classes("salinasA_gt")
    assert.equal("salinas", key)
    assert.equal(16, #classes)
    assert.equal(10, classes[10].id)
    assert.equal("Corn_senesced_green_weeds", classes[10].name)
    assert.matches("^#%x%x%x%x%x%x$", classes[10].color)
    assert.equal("salinas", select(2, cn.scene.benchmark_classes("/data/Salinas_corrected.mat")))
  end)

  it("knows Pavia Centre, Pavia University and Indian Pines", function()
    local pc = cn.scene.benchmark_classes("pavia_gt")
    local pu = cn.scene.benchmark_classes("PaviaU")
    local ip = cn.scene.benchmark_classes("Indian_pines_gt.mat")
    assert.equal(9, #pc)
    assert.equal("Water", pc[1].name)
    assert.equal(9, #pu)
    assert.equal("Painted metal sheets", pu[5].name)
    assert.equal(16, #ip)
    assert.equal("Buildings-Grass-Trees-Drives", ip[15].name)
  end)

  it("returns nil and the known names for an unknown scene", function()
    local classes, why = cn.scene.benchmark_classes("landsat")
    assert.is_nil(classes)
    assert.matches("unknown benchmark 'landsat' %(known: salinas, pavia_centre", why)
  end)
end)

describe("cn.scene.import", function()
  it("lists SalinasA's variable as MATLAB describes it", function()
    if not need_data() then return end
    local vars = assert(cn.scene.mat_variables(salinas))
    assert.equal(1, #vars)
    assert.same({ name = "salinasA_corrected", class = "double", dims = { 83, 86, 204 },
                  complex = false, importable = true }, vars[1])
  end)

  it("converts the SalinasA cube to an 86 x 83 x 204 Int16 GeoTIFF", function()
    if not need_data() then return end
    local out = path("salinasA.tif")
    local ok, info = cn.scene.import(salinas, out)
    assert.is_true(ok)
    assert.same({ variable = "salinasA_corrected", picked = true, importable = 1, version = 5,
                  kind = "image", class = "double", stored_as = "int16", type = "Int16",
                  width = 86, height = 83, bands = 204 }, info)
    local r <close> = assert(cn.raster.open(out))
    assert.same({ 86, 83, 204 }, { r:size() })
    assert.equal("Int16", r:band_type(204))
    assert.is_false(select(2, r:geotransform())) -- a .mat file has no georeference
  end)

  it("converts the ground truth to a label map with Salinas class names", function()
    if not need_data() then return end
    local out = path("salinasA_gt.tif")
    local ok, info = cn.scene.import(salinas_gt, out)
    assert.is_true(ok)
    assert.equal("labels", info.kind)
    assert.equal("salinas", info.benchmark)
    assert.equal(5348, info.labelled)
    local r <close> = assert(cn.raster.open(out))
    local ids, count, labelled = r:read_labels():totable(), {}, 0
    for _, id in ipairs(ids) do
      count[id] = (count[id] or 0) + 1
      if id > 0 then labelled = labelled + 1 end
    end
    assert.equal(5348, labelled)
    local present = {}
    for id in pairs(count) do present[#present + 1] = id end
    table.sort(present)
    assert.same({ 0, 1, 10, 11, 12, 13, 14 }, present)
    local text = gdalinfo(out)
    assert.matches("10: Corn_senesced_green_weeds", text, 1, true)
    assert.matches("0: unclassified", text, 1, true)
    assert.matches("NoData Value=0", text, 1, true)
  end)

  it("reports progress up to 1; a progress error or false stops it and leaves nothing", function()
    if not need_data() then return end
    local seen = {}
    assert.is_true(cn.scene.import(salinas_gt, path("p.tif"), {
      progress = function(f) seen[#seen + 1] = f end }))
    assert.equal(1, seen[#seen])
    for i = 2, #seen do assert.is_true(seen[i] >= seen[i - 1]) end
    local raised, err = pcall(cn.scene.import, salinas, path("raise.tif"),
      { progress = function() error("stop here", 0) end })
    assert.is_false(raised)
    assert.matches("^stop here", err) -- the callback's own error, traceback appended
    local ok, why = cn.scene.import(salinas, path("false.tif"),
      { progress = function() return false end })
    assert.is_nil(ok)
    assert.matches("cancelled", why)
    assert.same({}, files("^raise"))
    assert.same({}, files("^false"))
  end)

  it("refuses a truncated file with nil and a message, and writes nothing", function()
    if not need_data() then return end
    for _, bytes in ipairs({ 100, 5000, 800000, 1539000 }) do
      local src = path("cut.mat")
      cut(salinas, src, bytes)
      local ok, why = cn.scene.import(src, path("cut.tif"))
      assert.is_nil(ok)
      assert.matches("^" .. src:gsub("%p", "%%%0") .. ": ", why)
      assert.is_falsy(why:find("\n"))
      assert.same({}, files("^cut%.tif"))
      assert.same({}, files("tmp%-"))
    end
  end)

  it("names the variables when --var names none, and refuses a foreign file", function()
    if not need_data() then return end
    local ok, why = cn.scene.import(salinas_gt, path("x.tif"), { var = "labels" })
    assert.is_nil(ok)
    assert.matches("no variable 'labels' %(variables: salinasA_gt %(double 83 x 86%)%)", why)
    local text = path("text.mat")
    cut(clitest.source .. "/README.md", text, 4000)
    ok, why = cn.scene.mat_variables(text)
    assert.is_nil(ok)
    assert.matches("not a MAT file", why)
  end)

  it("raises on arguments of the wrong type", function()
    assert.has_error(function() cn.scene.import(nil, "x.tif") end)
    assert.has_error(function() cn.scene.import("a.mat", "x.tif", { var = 3 }) end)
    assert.has_error(function() cn.scene.import("a.mat", "x.tif", { progress = "no" }) end)
  end)
end)

describe("cn.scene.synth", function()
  it("writes a georeferenced Int16 scene and labels of the size asked", function()
    local img, lab = path("s.tif"), path("sl.tif")
    local ok, info = cn.scene.synth{ output = img, labels = lab, width = 70, height = 50,
                                     bands = 5, classes = 3, seed = 7 }
    assert.is_true(ok)
    assert.same({ width = 70, height = 50, bands = 5, classes = 3, seed = 7, epsg = 32610 }, info)
    local r <close> = assert(cn.raster.open(img))
    local l <close> = assert(cn.raster.open(lab))
    assert.same({ 70, 50, 5 }, { r:size() })
    assert.equal("Int16", r:band_type(1))
    assert.equal(-9999, r:nodata(5))
    local gt, has = r:geotransform()
    assert.is_true(has)
    assert.same({ 620000, 3.7, 0, 4062000, 0, -3.7 }, gt)
    assert.same(gt, (l:geotransform()))
    assert.matches("32610", r:wkt())
    local max = 0
    for _, id in ipairs(l:read_labels():totable()) do max = math.max(max, id) end
    assert.equal(3, max)
    assert.matches("1: Broccoli", gdalinfo(lab), 1, true)
  end)

  it("gives identical pixels for the same seed", function()
    local a, b = {}, {}
    for i, t in ipairs({ a, b }) do
      local img, lab = path("d" .. i .. ".tif"), path("dl" .. i .. ".tif")
      assert.is_true(cn.scene.synth{ output = img, labels = lab, width = 40, height = 40,
                                     bands = 4, seed = 3, threads = i })
      local r <close> = assert(cn.raster.open(img))
      t.px = r:read():totable()
    end
    assert.same(a.px, b.px)
  end)

  it("returns nil for options out of range and raises for options of the wrong type", function()
    local ok, why = cn.scene.synth{ output = path("o.tif"), labels = path("ol.tif"), width = 10 }
    assert.is_nil(ok)
    assert.matches("width and height must be in 32", why)
    assert.same({}, files("^o"))
    assert.has_error(function() cn.scene.synth{ output = 1, labels = "l.tif" } end)
    assert.has_error(function() cn.scene.synth{ output = "o.tif", labels = "l.tif", bands = 2.5 } end,
      "cn.scene.synth: option 'bands' must be an integer (got a fraction)")
    assert.has_error(function() cn.scene.synth{ output = "o.tif", labels = "l.tif", colour = 1 } end,
      "cn.scene.synth: unknown option 'colour'")
  end)

  it("names its classes", function()
    local c = cn.scene.synth_classes(6)
    assert.equal(6, #c)
    assert.same({ "Broccoli", "Celery", "Fallow", "Grapes", "Lettuce", "Vineyard" },
      { c[1].name, c[2].name, c[3].name, c[4].name, c[5].name, c[6].name })
    assert.same({ width = 256, height = 256, bands = 32, classes = 6, seed = 1 },
      cn.scene.synth_defaults())
  end)
end)

describe("cropnet import", function()
  it("has --help", function()
    local r = clitest.run("import", "--help")
    assert.equal(0, r.code)
    assert.matches("usage: cropnet import SRC.mat %-o OUT.tif", r.stdout)
  end)

  it("converts SalinasA's ground truth and says what it did", function()
    if not need_data() then return end
    local out = path("cli_gt.tif")
    local r = clitest.run("import", salinas_gt, "-o", out)
    assert.equal(0, r.code, r.stderr)
    assert.matches("variable salinasA_gt %(double stored as uint8, 83 x 86%)", r.stdout)
    assert.matches("ids up to 14, 5348 labelled pixels, class names of salinas", r.stdout)
    assert.is_true(clitest.exists(out))
    r = clitest.run("import", salinas, "--list")
    assert.equal(0, r.code)
    assert.matches("salinasA_corrected%s+double%s+83 x 86 x 204%s+importable", r.stdout)
  end)

  it("fails with one line, a non-zero exit and no output on bad inputs", function()
    if not need_data() then return end
    local src = path("cli_cut.mat")
    cut(salinas, src, 770000)
    local out = path("cli_bad.tif")
    os.execute("mkdir -p " .. q(path("ro")) .. " && chmod 555 " .. q(path("ro")))
    local root = io.popen("id -u"):read("l") == "0"
    local cases = {
      { { "import", src, "-o", out }, "truncated MAT file" },
      { { "import", path("missing.mat"), "-o", out }, "missing.mat" },
      { { "import", clitest.source .. "/README.md", "-o", out }, "not a MAT file" },
      { { "import", salinas_gt, "-o", out, "--var", "gt" }, "no variable 'gt'" },
      { { "import", salinas_gt, "-o", salinas_gt }, "also an input" },
      { { "import", salinas_gt, "-o", path("no/such/dir/x.tif") }, "folder does not exist" },
      { { "import", salinas_gt }, "-o OUT.tif is required" },
      { { "import", salinas_gt, "-o", out, "--bogus" }, "unknown option --bogus" },
    }
    if not root then
      cases[#cases + 1] = { { "import", salinas_gt, "-o", path("ro/x.tif") }, "not writable" }
    end
    for _, c in ipairs(cases) do
      local r = clitest.run(table.unpack(c[1]))
      clitest.assert_refused(r, c[2], out)
    end
    assert.same({}, files("tmp%-"))
  end)
end)

describe("cropnet synth", function()
  it("has --help", function()
    local r = clitest.run("synth", "--help")
    assert.equal(0, r.code)
    assert.matches("usage: cropnet synth %-o IMAGE.tif %-%-labels LABELS.tif", r.stdout)
  end)

  it("writes the embedded default and says what it is", function()
    local img, lab = path("cli_s.tif"), path("cli_sl.tif")
    local r = clitest.run("synth", "-o", img, "--labels", lab)
    assert.equal(0, r.code, r.stderr)
    assert.matches("256 x 256 pixels, 32 bands", r.stdout)
    assert.matches("6 classes: Broccoli, Celery, Fallow, Grapes, Lettuce, Vineyard", r.stdout)
    local info = gdalinfo(img)
    assert.matches("Size is 256, 256", info, 1, true)
    assert.matches("NoData Value=-9999", info, 1, true)
    assert.matches('ID["EPSG",32610]', info, 1, true)
  end)

  it("fails with one line, a non-zero exit and neither file on bad options", function()
    local img, lab = path("cli_bad_s.tif"), path("cli_bad_sl.tif")
    local cases = {
      { { "synth", "-o", img, "--labels", lab, "--width", "10" },
        "--width must be an integer in [32, 100000]" },
      { { "synth", "-o", img, "--labels", lab, "--bands", "x" }, "--bands must be an integer" },
      { { "synth", "-o", img, "--labels", lab, "--classes", "65" }, "--classes" },
      { { "synth", "-o", img, "--labels", img }, "different files" },
      { { "synth", "-o", img }, "--labels LABELS.tif is required" },
      { { "synth", "--labels", lab }, "-o IMAGE.tif is required" },
      { { "synth", "-o", path("no/dir/s.tif"), "--labels", lab }, "folder does not exist" },
    }
    for _, c in ipairs(cases) do
      local r = clitest.run(table.unpack(c[1]))
      clitest.assert_refused(r, c[2], img, lab)
    end
  end)
end)
