/*
 * plugin.c — the entry point of gdal_CROPNET.so.
 *
 * GDAL loads every gdal_*.so it finds in GDAL_DRIVER_PATH (or, when that is unset, in its plugin
 * folder) and calls GDALRegisterMe. The plugin registers no driver: it adds two pixel functions
 * for VRTDerivedRasterBand, so any GDAL program (gdal_translate, gdalwarp, QGIS) can run a
 * cropnet model or a Lua function as a processing step of a VRT:
 *   cropnet      model=PATH output=label|confidence|probability:CLASS nodata=... dstnodata=...
 *   cropnet_lua  script=PATH | code=TEXT, function=NAME, mode=pixel|buffer, nodata=, dstnodata=
 *
 * GDAL's plugin ABI is tied to its minor version, so a plugin built against another one refuses
 * to register (GDAL_CHECK_VERSION reports it). Registration happens once even if GDAL calls the
 * entry point again (a script that uses cn.raster makes the core call GDALAllRegister, which
 * reloads plugins), so the pixel-function table is never modified while other threads read it.
 * Only GDALRegisterMe is exported (plugin.map): the core and Lua symbols linked in stay private.
 */
#include "plugin.h"

#include <gdal.h>

#include <stdatomic.h>

void GDALRegisterMe(void);

void GDALRegisterMe(void)
{
    static atomic_flag registered = ATOMIC_FLAG_INIT;
    if (!GDAL_CHECK_VERSION("gdal_CROPNET"))
        return;
    if (atomic_flag_test_and_set(&registered))
        return;
    GDALAddDerivedBandPixelFuncWithArgs("cropnet", cnp_pixfn_model, NULL);
    GDALAddDerivedBandPixelFuncWithArgs("cropnet_lua", cnp_pixfn_lua, NULL);
}
