-- tensor_spec: cn.tensor and friends — construction, shape queries, 1-based indexing, the
-- table round trip, and the errors that bad Lua input must raise instead of crashing.
local cn = require "cropnet"

describe("cn.tensor", function()
  it("takes the shape of a nested table", function()
    local t = cn.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    assert.same({ 2, 3 }, { t:size() })
    assert.equal(2, t:dim())
    assert.equal(6, t:numel())
  end)

  it("round-trips a 3-D table through totable", function()
    local src = { { { 1, 2 }, { 3, 4 } }, { { 5, 6 }, { 7, 8 } }, { { 9, 10 }, { 11, 12 } } }
    assert.same(src, cn.tensor(src):totable())
  end)

  it("makes a zero-filled tensor from sizes", function()
    local t = cn.tensor(2, 3, 4)
    assert.same({ 2, 3, 4 }, { t:size() })
    for i = 1, 2 do for j = 1, 3 do for k = 1, 4 do assert.equal(0, t:get(i, j, k)) end end end
  end)

  it("gives zeros(d1, d2) the requested shape, all zero", function()
    assert.same({ { 0, 0 }, { 0, 0 }, { 0, 0 } }, cn.zeros(3, 2):totable())
  end)

  it("draws randn values with roughly zero mean and unit spread", function()
    cn.manual_seed(1)
    local t = cn.randn(4000)
    local s, s2 = 0, 0
    for i = 1, 4000 do local v = t:get(i); s = s + v; s2 = s2 + v * v end
    assert.is_true(math.abs(s / 4000) < 0.1)
    assert.is_true(math.abs(s2 / 4000 - 1) < 0.1)
  end)

  it("reads and writes with 1-based indices", function()
    local t = cn.zeros(2, 3)
    t:set(2, 3, 7.5)
    assert.equal(7.5, t:get(2, 3))
    assert.equal(7.5, t:totable()[2][3])
  end)

  it("reports a dimension's size with size(i) and the first one with #", function()
    local t = cn.zeros(5, 7)
    assert.equal(7, t:size(2))
    assert.equal(5, #t)
  end)

  it("fills every element", function()
    assert.same({ 3, 3, 3 }, cn.zeros(3):fill(3):totable())
  end)

  it("clones into an independent tensor", function()
    local a = cn.tensor { 1, 2 }
    local b = a:clone()
    b:set(1, 9)
    assert.equal(1, a:get(1))
    assert.equal(9, b:get(1))
  end)

  it("copies values and shape from another tensor", function()
    local a = cn.zeros(1)
    a:copy(cn.tensor { { 1, 2 }, { 3, 4 } })
    assert.same({ { 1, 2 }, { 3, 4 } }, a:totable())
  end)

  it("resizes to new dimensions", function()
    local t = cn.zeros(2, 2):resize(4, 1, 1)
    assert.same({ 4, 1, 1 }, { t:size() })
  end)

  it("gives 1-based row-wise argmax ids", function()
    local t = cn.tensor { { 0.1, 0.9, 0.0 }, { 5, 1, 2 }, { 0, 0, 3 } }
    assert.same({ 2, 1, 3 }, t:argmax():totable())
  end)

  it("shows its shape in tostring", function()
    assert.matches("%(2 x 3%)", tostring(cn.zeros(2, 3)))
  end)

  it("refuses a ragged table", function()
    assert.error_matches(function() cn.tensor { { 1, 2 }, { 3 } } end,
      "bad argument #1 to '[%w.]*tensor' %(ragged table: element %[2%] has 1 entries, expected 2%)")
  end)

  it("refuses a table mixing numbers and rows", function()
    assert.error_matches(function() cn.tensor { { 1, 2 }, 3 } end, "expected a table")
  end)

  it("refuses non-number elements", function()
    assert.error_matches(function() cn.tensor { 1, "x" } end, "is a string, expected a number")
  end)

  it("refuses tables nested deeper than 5 levels", function()
    assert.error_matches(function() cn.tensor { { { { { { 1 } } } } } } end, "deeper than 5")
  end)

  it("refuses an out-of-range index, naming the range", function()
    local t = cn.zeros(2, 3)
    assert.error_matches(function() t:get(1, 4) end, "index 4 out of range 1..3")
    assert.error_matches(function() t:set(0, 1, 1) end, "index 0 out of range 1..2")
  end)

  it("refuses the wrong number of indices", function()
    assert.error_matches(function() cn.zeros(2, 3):get(1) end, "expected 2 indices")
  end)

  it("refuses negative sizes", function()
    assert.error_matches(function() cn.zeros(2, -1) end, "size must be >= 0")
  end)

  it("raises instead of crashing on sizes whose product overflows", function()
    assert.has_error(function() cn.zeros(2 ^ 40 // 1, 2 ^ 40 // 1) end)
  end)

  it("raises on use after close", function()
    local t = cn.zeros(2)
    t:close()
    assert.has_error(function() t:get(1) end, "attempt to use a closed tensor")
  end)

  it("closes idempotently, also through <close>", function()
    local t = cn.zeros(2)
    do
      local u <close> = t
    end
    t:close()
    assert.matches("closed", tostring(t))
  end)

  it("compares equal when two handles share the storage", function()
    local lin = cn.nn.Linear(2, 2)
    assert.is_true(lin.weight == lin.weight)
    assert.is_false(cn.zeros(1) == cn.zeros(1))
  end)

  it("keeps a layer's tensors at their size", function()
    local lin = cn.nn.Linear(2, 3)
    assert.error_matches(function() lin.weight:resize(1) end, "cannot be resized")
    assert.error_matches(function() lin.weight:copy(cn.zeros(7)) end, "keeps its size")
  end)
end)

describe("tensor:standardize", function()
  it("scales each column by its own mean and std, a zero std counting as one", function()
    local x = cn.tensor { { 1, 10, 5 }, { 3, 30, 5 } }
    x:standardize(cn.tensor { 2, 20, 5 }, cn.tensor { 1, 10, 0 })
    assert.same({ { -1, -1, 0 }, { 1, 1, 0 } }, x:totable())
  end)

  it("refuses statistics of another band count", function()
    assert.error_matches(function()
      cn.zeros(2, 3):standardize(cn.zeros(4), cn.zeros(4))
    end, "samples %(2 x 3%) but statistics of %(4%) values")
  end)
end)
