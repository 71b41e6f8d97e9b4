-- rastertest: small GeoTIFFs for specs, written from a Lua function of the pixel, so that a spec
-- states its scene in a line and needs no data file.
--
--   local rastertest = require "rastertest"
--   rastertest.write(file, w, h, bands, "Int16", function(x, y, b) return x + y end,
--     { epsg = 32622, x0 = 600000, y0 = 5000000, pixel = 30, nodata = -9999 })
--
-- The pixels go to a raw file described by a VRT, which gdal_translate turns into the GeoTIFF;
-- both temporaries are removed, so a spec's listing of its folder sees only the GeoTIFF.
local clitest = require "clitest"

local rastertest = {}

-- string.pack formats of the GDAL data types the specs use (little-endian, as the VRT says).
local formats = { Int16 = "<i2", UInt16 = "<I2", Float32 = "<f" }

-- Writes `file`, a w × h GeoTIFF of `bands` bands of `dtype` (Int16, UInt16 or Float32) whose
-- pixel (x, y) of band b (x, y from 0, b from 1) is value(x, y, b). Options, all optional:
--   o.epsg, o.x0, o.y0, o.pixel  the georeference: EPSG code, top-left corner, square pixel size
--   o.nodata                     each band's nodata value
--   o.band                       further VRT elements for each band (category names, colours)
--   o.options                    further gdal_translate options (creation options)
-- Raises when gdal_translate fails, with its command line and stderr. Returns file.
function rastertest.write(file, w, h, bands, dtype, value, o)
  o = o or {}
  local fmt = assert(formats[dtype], "no pack format for " .. tostring(dtype))
  local raw, parts = file .. ".raw", {}
  for y = 0, h - 1 do
    for x = 0, w - 1 do
      for b = 1, bands do parts[#parts + 1] = string.pack(fmt, value(x, y, b)) end
    end
  end
  clitest.write(raw, table.concat(parts))
  local size = string.packsize(fmt)
  local xml = { string.format('<VRTDataset rasterXSize="%d" rasterYSize="%d">', w, h) }
  if o.epsg then
    xml[#xml + 1] = string.format("<SRS>EPSG:%d</SRS><GeoTransform>%.17g, %.17g, 0, %.17g, 0, %.17g</GeoTransform>",
      o.epsg, o.x0, o.pixel, o.y0, -o.pixel)
  end
  for b = 1, bands do
    xml[#xml + 1] = string.format('<VRTRasterBand dataType="%s" band="%d" subClass="VRTRawRasterBand">', dtype, b)
    if o.nodata then xml[#xml + 1] = "<NoDataValue>" .. o.nodata .. "</NoDataValue>" end
    if o.band then xml[#xml + 1] = o.band end
    xml[#xml + 1] = string.format('<SourceFilename relativeToVRT="0">%s</SourceFilename>' ..
      "<ImageOffset>%d</ImageOffset><PixelOffset>%d</PixelOffset><LineOffset>%d</LineOffset>" ..
      "<ByteOrder>LSB</ByteOrder></VRTRasterBand>", raw, size * (b - 1), size * bands, size * bands * w)
  end
  xml[#xml + 1] = "</VRTDataset>"
  clitest.write(file .. ".vrt", table.concat(xml, "\n"))
  local line = "gdal_translate -q " .. (o.options and o.options .. " " or "") ..
    clitest.quote(file .. ".vrt") .. " " .. clitest.quote(file)
  local r = clitest.sh(line)
  assert(r.code == 0, line .. ": " .. r.stderr)
  os.remove(file .. ".vrt")
  os.remove(raw)
  return file
end

return rastertest
