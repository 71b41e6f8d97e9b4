-- clitest: runs the built `cropnet` command from busted specs and captures what it did.
--
--   local clitest = require "clitest"
--   local r = clitest.run("classify", img, model, "-o", out)  -- r.code, r.stdout, r.stderr
--   clitest.tmp("name.tif")                                    -- a path in the scratch folder
--   clitest.exists(path), clitest.data(rel)                     -- ../shared/data/<rel> or nil
--   clitest.data_dir("hsi", "SalinasA_corrected.mat")          -- ../shared/data/hsi or nil
--   local dir, path = clitest.workdir("name")                   -- a fresh scratch folder
--   clitest.read(file), clitest.write(file, bytes), clitest.listing(dir)
--   clitest.ok(r)                                               -- asserts exit 0, returns r
--   clitest.gdalinfo(file[, "-json"])                           -- gdalinfo's report
--   clitest.assert_refused(r, "says", out)                      -- the one-line refusal
--   clitest.salinasA(dir)                                       -- SalinasA imported and split
--
-- Arguments are shell-quoted, so any path works. ctest sets CROPNET_BIN, CROPNET_TMP and
-- CROPNET_SOURCE (tests/CMakeLists.txt).
local luassert = require "luassert" -- busted's own assert: a spec's `assert` is not global here

local clitest = {}

clitest.bin = os.getenv("CROPNET_BIN") or "cropnet"
clitest.dir = os.getenv("CROPNET_TMP") or "/tmp"
clitest.source = os.getenv("CROPNET_SOURCE") or "."

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
clitest.quote = quote

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

-- Runs a shell command line (already quoted); returns {code, stdout, stderr}.
function clitest.sh(line)
  local out, err = os.tmpname(), os.tmpname()
  local ok, how, code = os.execute(line .. " >" .. quote(out) .. " 2>" .. quote(err) .. " </dev/null")
  if how == "signal" then code = 128 + code end
  return { code = ok and 0 or code, stdout = slurp(out), stderr = slurp(err) }
end

-- Runs `cropnet ARGS...`.
function clitest.run(...)
  local parts = { quote(clitest.bin) }
  for _, a in ipairs({ ... }) do parts[#parts + 1] = quote(a) end
  return clitest.sh(table.concat(parts, " "))
end

function clitest.tmp(name)
  return clitest.dir .. "/" .. name
end

-- A fresh (emptied) scratch folder for one spec, and a function naming files in it.
function clitest.workdir(name)
  local dir = clitest.tmp(name)
  os.execute("rm -rf " .. quote(dir) .. " && mkdir -p " .. quote(dir))
  return dir, function(file) return dir .. "/" .. file end
end

function clitest.read(file)
  local f = assert(io.open(file, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function clitest.write(file, bytes)
  local f = assert(io.open(file, "wb"))
  f:write(bytes)
  f:close()
end

-- The folder's entries, sorted and space-separated: proof that nothing, not even a temporary,
-- was left behind.
function clitest.listing(dir)
  local p = io.popen("ls -A " .. quote(dir))
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  return table.concat(names, " ")
end

function clitest.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- A file of ../shared/data, or nil when that folder is absent (the caller then skips, saying so).
function clitest.data(rel)
  local path = clitest.source .. "/../shared/data/" .. rel
  return clitest.exists(path) and path or nil
end

-- The folder ../shared/data/<dir> when it holds the file `probe`, or nil (the caller then skips,
-- saying so).
function clitest.data_dir(dir, probe)
  return clitest.data(dir .. "/" .. probe) and clitest.source .. "/../shared/data/" .. dir or nil
end

-- Asserts that a run succeeded, its stderr the failure message; returns the run.
function clitest.ok(r)
  luassert.equal(0, r.code, r.stderr)
  return r
end

-- gdalinfo's report on a file, `options` (such as "-json") before it; asserts that gdalinfo ran,
-- the command line and its stderr the failure message.
function clitest.gdalinfo(file, options)
  local line = "gdalinfo " .. (options and options .. " " or "") .. quote(file)
  local r = clitest.sh(line)
  luassert.equal(0, r.code, line .. ": " .. r.stderr)
  return r.stdout
end

-- SalinasA as the end-to-end specs start from it: both .mat files of ../shared/data/hsi imported
-- into `dir` (salinasA.tif, gt.tif) and the ground truth split 5% per class with seed 1
-- (train.tif, test.tif). Asserts every step succeeded; returns the four paths. The caller checks
-- that the data is present first (clitest.data_dir), so that a machine without it skips.
function clitest.salinasA(dir)
  local hsi = assert(clitest.data_dir("hsi", "SalinasA_corrected.mat"), "../shared/data/hsi is absent")
  local p = { image = dir .. "/salinasA.tif", gt = dir .. "/gt.tif", train = dir .. "/train.tif",
    test = dir .. "/test.tif" }
  clitest.ok(clitest.run("import", hsi .. "/SalinasA_corrected.mat", "-o", p.image))
  clitest.ok(clitest.run("import", hsi .. "/SalinasA_gt.mat", "-o", p.gt))
  clitest.ok(clitest.run("split", p.gt, "--train", p.train, "--test", p.test,
    "--train-fraction", "0.05", "--seed", "1", "-q"))
  return p
end

-- The one-line error contract: exactly one line on stderr, "cropnet: ...".
function clitest.one_line_error(r)
  return r.code ~= 0 and r.stderr:match("^cropnet: [^\n]+\n$") ~= nil
end

-- Asserts that a run was refused as every command refuses: the one-line error (its stderr the
-- failure message), that line containing `says` (plain text, not a pattern), and none of the
-- files named after it written.
function clitest.assert_refused(r, says, ...)
  luassert.is_true(clitest.one_line_error(r), r.stderr)
  luassert.matches(says, r.stderr, 1, true)
  for i = 1, select("#", ...) do
    local file = select(i, ...)
    luassert.is_false(clitest.exists(file), file .. " was written")
  end
end

return clitest
