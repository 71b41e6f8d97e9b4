-- cluster_sklearn_spec: cropnet's k-means checked against scikit-learn's KMeans on the same
-- float32 data and the same initial centroids (tests/python/kmeans_vs_sklearn.py, run with
-- Debian's /usr/bin/python3): the same assignments, iterations, centroids and inertia within
-- float tolerance; and on separated blobs k-means++ finds the optimum scikit-learn finds.
-- scikit-learn comes from the python3-sklearn package (tools/setup installs it); when it cannot
-- be imported these tests fail saying so, and install nothing.
local clitest = require "clitest"
local cn = require "cropnet"

local q = clitest.quote
local dir = clitest.workdir("cluster_sklearn_spec")
local script = clitest.source .. "/tests/python/kmeans_vs_sklearn.py"

-- Writes a tensor as little-endian float32 (row-major) and returns the path.
local function dump(t, name)
  local rows, parts = t:totable(), {}
  for _, row in ipairs(rows) do
    for _, v in ipairs(row) do parts[#parts + 1] = string.pack("<f", v) end
  end
  local file = dir .. "/" .. name
  clitest.write(file, table.concat(parts))
  return file
end

-- n points in d bands around k centres `spacing` apart (seeded normal noise).
local function blobs(n, d, k, spacing, seed)
  cn.manual_seed(seed)
  local x = cn.randn(n, d)
  for i = 1, n do
    local b = (i - 1) % k
    for f = 1, d do x:set(i, f, x:get(i, f) + spacing * b * (f % 2 == 1 and -0.5 or 1)) end
  end
  return x
end

-- The cases, prepared first and fitted by scikit-learn in one process (its import is slow):
-- each gets n_iter, inertia, labels (1-based, as cropnet's) and centers (flat).
local cases, results = {}, nil

local function case(x, k, init, max_iter, tol, seed)
  local n, d = x:size()
  local i = #cases + 1
  local init_arg = init == "k-means++" and init or dump(init, "init" .. i .. ".f32")
  cases[i] = table.concat({ dump(x, "x" .. i .. ".f32"), n, d, k, init_arg, max_iter, tol, seed or 0 }, ",")
  return i
end

local function sklearn(i)
  if not results then
    local args = {}
    for j, c in ipairs(cases) do args[j] = q(c) end
    local r = clitest.sh("/usr/bin/python3 " .. q(script) .. " " .. table.concat(args, " "))
    assert(r.code == 0, "scikit-learn did not run: " .. r.stderr)
    results = {}
    local out
    for line in r.stdout:gmatch("[^\n]+") do
      local key, rest = line:match("^(%S+) ?(.*)$")
      if key == "case" then
        out = { labels = {}, centers = {} }
        results[#results + 1] = out
      elseif key == "n_iter" or key == "inertia" then
        out[key] = tonumber(rest)
      elseif key == "labels" then
        for v in rest:gmatch("%S+") do out.labels[#out.labels + 1] = tonumber(v) + 1 end
      elseif key == "centers" then
        for v in rest:gmatch("%S+") do out.centers[#out.centers + 1] = tonumber(v) end
      end
    end
    assert.equal(#cases, #results)
  end
  return results[i]
end

-- cropnet from the same init: the same figures.
local function ours(x, k, init, max_iter, tol)
  local m = assert(cn.cluster.kmeans { data = x, k = k, init = init, max_iter = max_iter, tol = tol })
  local ids = m:predict(x)
  local centers = {}
  for _, row in ipairs(m:centroids():totable()) do
    for _, v in ipairs(row) do centers[#centers + 1] = v end
  end
  return { n_iter = m:iterations(), inertia = m:inertia(), labels = ids:totable(), centers = centers }
end

local function rows(x, idx)
  local t = {}
  for i, r in ipairs(idx) do
    t[i] = {}
    for f = 1, select(2, x:size()) do t[i][f] = x:get(r, f) end
  end
  return cn.tensor(t)
end

local function same_clustering(a, b)
  assert.equal(b.n_iter, a.n_iter)
  local differ = 0
  for i = 1, #b.labels do differ = differ + (a.labels[i] ~= b.labels[i] and 1 or 0) end
  assert.equal(0, differ)
  assert.near(b.inertia, a.inertia, 1e-5 * b.inertia)
  assert.equal(#b.centers, #a.centers)
  for i = 1, #b.centers do assert.near(b.centers[i], a.centers[i], 1e-4 * (1 + math.abs(b.centers[i]))) end
end

-- The data and initial centroids of every case.
local overlap = blobs(3000, 5, 5, 2.5, 1)
local overlap_init = rows(overlap, { 1, 402, 1203, 2004, 2805 })
local short = blobs(2500, 4, 6, 1.5, 2)
local short_init = rows(short, { 7, 8, 9, 10, 11, 12 })
local empty = blobs(1500, 3, 3, 6, 3)
local empty_init = rows(empty, { 1, 2, 3 })
empty_init:set(3, 1, 1e4) -- no pixel is nearest to it: empty after the first assignment
local separated = blobs(4000, 8, 7, 12, 4)
local C_OVERLAP = case(overlap, 5, overlap_init, 300, 1e-4)
local C_SHORT = case(short, 6, short_init, 4, 0)
local C_NO_TOL = case(short, 6, short_init, 300, 0)
local C_EMPTY = case(empty, 3, empty_init, 300, 1e-4)
local C_PLUSPLUS = case(separated, 7, "k-means++", 300, 1e-4, 0)

describe("k-means against scikit-learn from the same initial centroids", function()
  it("scikit-learn can be imported by /usr/bin/python3", function()
    local r = clitest.sh("/usr/bin/python3 -c 'import sklearn, numpy'")
    assert(r.code == 0, "/usr/bin/python3 cannot import sklearn: install python3-sklearn and " ..
      "python3-numpy (tools/setup installs them)\n" .. r.stderr)
  end)

  it("converges to the same clustering on overlapping blobs", function()
    same_clustering(ours(overlap, 5, overlap_init, 300, 1e-4), sklearn(C_OVERLAP))
  end)

  it("stops at the same iteration under max_iter and without tolerance", function()
    same_clustering(ours(short, 6, short_init, 4, 0), sklearn(C_SHORT))
    same_clustering(ours(short, 6, short_init, 300, 0), sklearn(C_NO_TOL))
  end)

  it("re-seeds an empty cluster with the same farthest pixel", function()
    same_clustering(ours(empty, 3, empty_init, 300, 1e-4), sklearn(C_EMPTY))
  end)

  it("finds the optimum scikit-learn finds with k-means++ on separated blobs", function()
    local theirs = sklearn(C_PLUSPLUS)
    local m = assert(cn.cluster.kmeans { data = separated, k = 7, seed = 0 })
    assert.near(theirs.inertia, m:inertia(), 1e-5 * theirs.inertia)
  end)
end)
