-- ndvi.lua: the normalised difference vegetation index, NDVI = (NIR - red) / (NIR + red), as a
-- Lua pixel function for GDAL (the cropnet_lua pixel function of the gdal_CROPNET plugin).
--
-- samples/landsat_ndvi.vrt calls ndvi(red, nir) once per pixel with the values of its two
-- sources, Landsat-5 TM band 3 (red) and band 4 (near infrared); pixels where a band holds its
-- nodata value (255) never reach the function (the VRT gives nodata="255"). Run it from the
-- project folder, with the plugin on GDAL's path:
--
--   GDAL_DRIVER_PATH=build/plugins/gdal gdal_translate samples/landsat_ndvi.vrt ndvi.tif
--
-- Returning nil writes the band's nodata value (dstnodata="-9999" in the VRT).
function ndvi(red, nir)
  local sum = nir + red
  if sum == 0 then return nil end
  return (nir - red) / sum
end
