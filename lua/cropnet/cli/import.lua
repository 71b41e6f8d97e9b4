-- cropnet import SRC.mat -o OUT.tif [--var NAME]: a MATLAB file of a hyperspectral benchmark
-- (Salinas, SalinasA, Pavia Centre, Pavia University, Indian Pines; MAT v5 or v7.3) to GeoTIFF.
local cli = require "cropnet.cli"

local import = {}

import.help = [[
usage: cropnet import SRC.mat -o OUT.tif [--var NAME] [-q]
       cropnet import SRC.mat --list

Converts one variable of a MATLAB file (v5/v7 with compressed elements, or v7.3/HDF5) to
GeoTIFF, as the hyperspectral benchmarks ship them:

  - a rows x cols x bands array becomes a cols x rows image of that many bands, keeping the data
    type (an integer-valued double stored as int16, like SalinasA's, stays Int16), pixel-
    interleaved, tiled, DEFLATE-compressed, without georeference (a .mat file has none);
  - a rows x cols array of ids (integers 0..65535, 0 = unlabelled) becomes a label map (Byte,
    UInt16 past 255, nodata 0) with a colour table and class names: the benchmark's when the
    variable or file name is one (salinas_gt, salinasA_gt, paviaU_gt, pavia_gt,
    indian_pines_gt), else "class N"; any other 2-D array becomes a one-band image.

options:
  -o, --output OUT.tif   the GeoTIFF to write (never the input; written atomically)
  --var NAME             the variable to convert (default: the only numeric 2-D or 3-D array,
                         else the largest; the choice is reported)
  --list                 list the file's variables and exit
  -q, --quiet            no progress bar and no report]]

local function dims_text(dims)
  local t = {}
  for i, d in ipairs(dims) do t[i] = tostring(d) end
  return table.concat(t, " x ")
end

local function list(path)
  local cn = require "cropnet"
  local vars, err = cn.scene.mat_variables(path)
  if not vars then cli.fail("import", err) end
  for _, v in ipairs(vars) do
    io.stdout:write(string.format("%-24s %-8s %-18s %s\n", v.name,
      (v.complex and "complex " or "") .. v.class, dims_text(v.dims),
      v.importable and "importable" or "-"))
  end
  return 0
end

local function report(src, out, info)
  local what = info.class .. (info.stored_as and (" stored as " .. info.stored_as) or "")
  local lines = {
    string.format("%s: variable %s (%s, %d x %d%s)%s", src, info.variable, what, info.height,
      info.width, info.kind == "image" and info.bands > 1 and (" x " .. info.bands) or "",
      info.picked and info.importable > 1
        and string.format(", the largest of %d numeric arrays; choose another with --var",
                          info.importable) or ""),
  }
  if info.kind == "labels" then
    lines[2] = string.format("%s: label map, %d x %d, %s, ids up to %d, %d labelled pixels, %s",
      out, info.width, info.height, info.type, info.max_id, info.labelled,
      info.benchmark and ("class names of " .. info.benchmark) or "classes named \"class N\"")
  else
    lines[2] = string.format("%s: %d x %d pixels, %d band%s, %s, no georeference", out,
      info.width, info.height, info.bands, info.bands == 1 and "" or "s", info.type)
  end
  io.stdout:write(table.concat(lines, "\n"), "\n")
end

function import.run(args)
  local opts, pos = cli.parse("import", args, {
    ["-o"] = "value", ["--output"] = "value", ["--var"] = "value", ["--list"] = "flag",
    ["-q"] = "flag", ["--quiet"] = "flag",
  })
  if #pos ~= 1 then
    cli.fail("import", "expected one MAT file (usage: cropnet import SRC.mat -o OUT.tif)")
  end
  if opts.list then return list(pos[1]) end
  local output = opts.o or opts.output
  if not output then cli.fail("import", "-o OUT.tif is required") end
  local cn = require "cropnet"
  local quiet = opts.q or opts.quiet
  local bar = not quiet and cn.core.isatty("stderr")
  local ok, info = cn.scene.import(pos[1], output, {
    var = opts.var, progress = bar and cli.term_progress(io.stderr) or nil,
  })
  if not ok then
    if bar then io.stderr:write("\n") end
    cli.fail("import", info)
  end
  if not quiet then report(pos[1], output, info) end
  return 0
end

return import
