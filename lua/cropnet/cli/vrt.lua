-- cropnet vrt IMAGE MODEL -o OUT.vrt: a VRT that runs a per-pixel model over an image through the
-- GDAL plugin (gdal_CROPNET.so, pixel function "cropnet"), so any GDAL program makes the crop
-- map: `gdal_translate OUT.vrt map.tif` equals `cropnet classify IMAGE MODEL -o map.tif`.
--
-- The VRT has one derived band with one SimpleSource per image band, read as Float32; the model
-- path and the image's per-band nodata values go in the pixel function's arguments (a pixel
-- function sees no source metadata). A label band carries the model's colour table and class
-- names, so gdal_translate hands them on to the GeoTIFF. Paths are absolute: the VRT works from
-- any folder. The file is written beside OUT.vrt under a temporary name and renamed into place.
local cli = require "cropnet.cli"

local vrt = {}

vrt.help = [[
usage: cropnet vrt IMAGE MODEL -o OUT.vrt [--output label|confidence|probability:CLASS]

Writes OUT.vrt, a GDAL virtual raster that classifies IMAGE (any raster GDAL reads) with MODEL
(a per-pixel model from cropnet train) when a GDAL program reads it, through the gdal_CROPNET
plugin (build/plugins/gdal, or GDAL's plugin folder after `cmake --install`):

  GDAL_DRIVER_PATH=build/plugins/gdal gdal_translate OUT.vrt map.tif

  -o, --output OUT.vrt       the VRT to write
  --output KIND              what the band holds (default label):
                               label           class ids (Byte, UInt16 past 255), nodata 0, the
                                               model's colour table and class names
                               confidence      the top class probability (Float32, nodata 0)
                               probability:C   the probability of class C, an id or a name
                                               (Float32, nodata -1)

Pixels where a band holds its nodata value (or NaN) get the nodata value, as in cropnet classify.
IMAGE and MODEL are named by absolute paths. Patch models need a neighbourhood a pixel function
does not see: classify with them through cropnet classify.]]

local function xml(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                         ['"'] = "&quot;" }))
end

-- A number as text that reads back to the same double.
local function num(v)
  if v ~= v then return "nan" end
  if math.type(v) == "integer" or (v == math.floor(v) and math.abs(v) < 2 ^ 53) then
    return string.format("%d", math.tointeger(v) or v)
  end
  return string.format("%.17g", v)
end

-- "label", "confidence" or "probability:C" checked against the model's classes.
local function parse_output(spec, model, info)
  if spec == "label" or spec == "confidence" then return spec end
  local want = spec:match("^probability:(.+)$")
  if not want then
    cli.fail("vrt", string.format("--output %s: expected label, confidence or probability:CLASS",
      spec))
  end
  for _, c in ipairs(info.classes) do
    if tostring(c.id) == want or c.name == want then return "probability", c end
  end
  local ids = {}
  for _, c in ipairs(info.classes) do ids[#ids + 1] = string.format("%d %s", c.id, c.name) end
  cli.fail("vrt", string.format("--output %s: %s has no class '%s' (its classes: %s)", spec, model,
    want, table.concat(ids, ", ")))
end

-- The model against the image, as cropnet classify checks them.
local function check_bands(image, img, info)
  if img.bands ~= info.bands then
    cli.fail("vrt", string.format("%s: has %d band%s, the model expects %d", image, img.bands,
      img.bands == 1 and "" or "s", info.bands))
  end
  if not info.band_names then return end
  for b = 1, img.bands do
    if img:description(b) == "" then return end -- unnamed bands: the order cannot be checked
  end
  for b = 1, img.bands do
    if img:description(b) ~= info.band_names[b] then
      cli.fail("vrt", string.format("%s: band %d is '%s', the model expects '%s' (the bands are " ..
        "not in the model's order)", image, b, img:description(b), info.band_names[b]))
    end
  end
end

-- nodata= for the pixel function: one value when every band has the same, else one per band
-- (empty where a band has none); nil when no band has one.
local function nodata_arg(img)
  local values, any, same = {}, false, true
  for b = 1, img.bands do
    local v = img:nodata(b)
    values[b] = v and num(v) or ""
    any = any or v ~= nil
    same = same and values[b] == values[1]
  end
  if not any then return nil end
  return same and values[1] or table.concat(values, ",")
end

local function hex_rgb(color)
  local r, g, b = color:match("^#(%x%x)(%x%x)(%x%x)$")
  return tonumber(r, 16), tonumber(g, 16), tonumber(b, 16)
end

-- The colour table and category names of a label band: entries 0..max_id, 0 and ids without a
-- class transparent black and unnamed ("unclassified" for 0), as cropnet classify writes them.
local function palette(info, out)
  local by_id = {}
  for _, c in ipairs(info.classes) do by_id[c.id] = c end
  out[#out + 1] = "    <ColorInterp>Palette</ColorInterp>"
  out[#out + 1] = "    <CategoryNames>"
  for id = 0, info.max_id do
    local name = id == 0 and "unclassified" or (by_id[id] and by_id[id].name or "")
    out[#out + 1] = "      <Category>" .. xml(name) .. "</Category>"
  end
  out[#out + 1] = "    </CategoryNames>"
  out[#out + 1] = "    <ColorTable>"
  for id = 0, info.max_id do
    local r, g, b, a = 0, 0, 0, 0
    if by_id[id] then
      r, g, b = hex_rgb(by_id[id].color)
      a = 255
    end
    out[#out + 1] = string.format('      <Entry c1="%d" c2="%d" c3="%d" c4="%d"/>', r, g, b, a)
  end
  out[#out + 1] = "    </ColorTable>"
end

-- The VRT's text.
local function compose(img, image_abs, model_abs, info, kind, class)
  local w, h = img:size()
  local out = { string.format('<VRTDataset rasterXSize="%d" rasterYSize="%d">', w, h) }
  local wkt = img:wkt()
  if wkt ~= "" then out[#out + 1] = "  <SRS>" .. xml(wkt) .. "</SRS>" end
  local gt, has_gt = img:geotransform()
  if has_gt then
    local t = {}
    for i = 1, 6 do t[i] = string.format("%.17g", gt[i]) end
    out[#out + 1] = "  <GeoTransform>" .. table.concat(t, ", ") .. "</GeoTransform>"
  end
  local dtype = kind == "label" and (info.max_id <= 255 and "Byte" or "UInt16") or "Float32"
  out[#out + 1] = string.format('  <VRTRasterBand dataType="%s" band="1" ' ..
    'subClass="VRTDerivedRasterBand">', dtype)
  -- band descriptions as cropnet classify writes them: none on a map, "confidence", class names
  local description = kind == "confidence" and "confidence"
                      or kind == "probability" and (class.name ~= "" and class.name or tostring(class.id))
  if description then out[#out + 1] = "    <Description>" .. xml(description) .. "</Description>" end
  out[#out + 1] = "    <NoDataValue>" .. (kind == "probability" and "-1" or "0") .. "</NoDataValue>"
  if kind == "label" then palette(info, out) end
  local args = { string.format('model="%s"', xml(model_abs)),
                 string.format('output="%s"', kind == "probability" and "probability:" .. class.id
                                             or kind) }
  local nodata = nodata_arg(img)
  if nodata then args[#args + 1] = string.format('nodata="%s"', nodata) end
  out[#out + 1] = "    <PixelFunctionType>cropnet</PixelFunctionType>"
  out[#out + 1] = "    <PixelFunctionArguments " .. table.concat(args, " ") .. "/>"
  out[#out + 1] = "    <SourceTransferType>Float32</SourceTransferType>"
  for b = 1, img.bands do
    out[#out + 1] = "    <SimpleSource>"
    out[#out + 1] = '      <SourceFilename relativeToVRT="0">' .. xml(image_abs) .. "</SourceFilename>"
    out[#out + 1] = string.format("      <SourceBand>%d</SourceBand>", b)
    out[#out + 1] = "    </SimpleSource>"
  end
  out[#out + 1] = "  </VRTRasterBand>"
  out[#out + 1] = "</VRTDataset>"
  return table.concat(out, "\n") .. "\n"
end

-- Writes text to path through a temporary file beside it, renamed into place when complete.
local function write_atomically(path, text)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local core = require "cropnet.core"
  if not core.realpath(dir) then cli.fail("vrt", path .. ": no such folder") end
  local tmp = string.format("%s.tmp%06d.vrt", path, math.random(0, 999999))
  local f, err = io.open(tmp, "w")
  if not f then cli.fail("vrt", path .. ": cannot write: " .. err) end
  local ok, werr = f:write(text)
  local closed, cerr = f:close()
  if not ok or not closed then
    os.remove(tmp)
    cli.fail("vrt", path .. ": cannot write: " .. tostring(werr or cerr))
  end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    cli.fail("vrt", path .. ": cannot write: " .. tostring(rerr))
  end
end

function vrt.run(args)
  local opts, pos = cli.parse("vrt", args, { ["-o"] = "value", ["--output"] = "value" })
  -- --output names the band's content; -o the file (the command's usual -o/--output pair would
  -- clash, so the long form here is the kind)
  if #pos ~= 2 then
    cli.fail("vrt", "expected IMAGE and MODEL (usage: cropnet vrt IMAGE MODEL -o OUT.vrt)")
  end
  local image, model, path = pos[1], pos[2], opts.o
  if not path then cli.fail("vrt", "-o OUT.vrt is required") end
  local cn = require "cropnet"
  local core = cn.core
  local img <close>, err = cn.raster.open(image)
  if not img then cli.fail("vrt", err) end
  local info, ierr = core.pixel_model_info(model)
  if not info then
    if ierr:find("patch model") or ierr:find("receptive field") then
      ierr = ierr .. "; a VRT pixel function sees no neighbourhood: use `cropnet classify`"
    end
    cli.fail("vrt", ierr)
  end
  check_bands(image, img, info)
  local kind, class = parse_output(opts.output or "label", model, info)
  local image_abs = core.realpath(image) or image -- GDAL-only names (/vsi..., DRIVER:...) as given
  local model_abs = assert(core.realpath(model))
  local out_abs = core.realpath(path)
  if out_abs and (out_abs == image_abs or out_abs == model_abs) then
    cli.fail("vrt", string.format("%s: is an input; choose another output", path))
  end
  math.randomseed(os.time(), math.floor(os.clock() * 1e6))
  write_atomically(path, compose(img, image_abs, model_abs, info, kind, class))
  return 0
end

return vrt
