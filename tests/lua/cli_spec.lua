-- cli_spec: the command's contract — --help everywhere, exit 0 on success, one line
-- "cropnet: what: why" and a non-zero exit on failure — and the subcommands of the foundation:
-- run, demo, info.
local clitest = require "clitest"
local cn = require "cropnet"

describe("cropnet", function()
  it("prints usage and exits 2 without a command", function()
    local r = clitest.run()
    assert.equal(2, r.code)
    assert.matches("usage: cropnet <command>", r.stdout .. r.stderr, 1, true)
  end)

  it("exits 0 with --help and lists the commands", function()
    local r = clitest.run("--help")
    assert.equal(0, r.code)
    for _, c in ipairs { "demo", "run", "info" } do
      assert.matches("\n  " .. c .. " ", r.stdout, 1, true)
    end
  end)

  it("has --help on every subcommand", function()
    local listed = clitest.run("--help").stdout
    for name in listed:gmatch("\n  (%l+) ") do
      local r = clitest.run(name, "--help")
      assert.equal(0, r.code, name)
      assert.matches("usage: cropnet " .. name, r.stdout, 1, true)
    end
  end)

  it("reports its version and BLAS", function()
    local r = clitest.run("--version")
    assert.equal(0, r.code)
    assert.matches("^cropnet " .. cn.version:gsub("%.", "%%.") .. " %(Lua 5%.4, BLAS .+%)\n$", r.stdout)
  end)

  it("refuses an unknown command in one line", function()
    local r = clitest.run("frobnicate")
    clitest.assert_refused(r, "cropnet: frobnicate: unknown command")
  end)

  it("refuses an unknown option in one line", function()
    local r = clitest.run("info", "--bogus", "x")
    clitest.assert_refused(r, "unknown option --bogus")
  end)
end)

describe("cropnet run", function()
  local script = clitest.tmp("cli_spec_script.lua")

  local function write(body)
    local f = assert(io.open(script, "w"))
    f:write(body)
    f:close()
  end

  it("runs a script with the module and its arguments", function()
    write('local cn = require "cropnet"\nprint(cn.version, arg[0] ~= nil, ...)\nreturn 0\n')
    local r = clitest.run("run", script, "a b", "c")
    assert.equal(0, r.code)
    assert.equal(cn.version .. "\ttrue\ta b\tc\n", r.stdout)
  end)

  it("passes the script's integer exit status", function()
    write("return 3\n")
    assert.equal(3, clitest.run("run", script).code)
  end)

  it("reports a script's error in one line and exits 1", function()
    write('error("the field is flooded")\n')
    local r = clitest.run("run", script)
    assert.equal(1, r.code)
    clitest.assert_refused(r, "the field is flooded")
  end)

  it("reports a missing script naming it", function()
    local r = clitest.run("run", clitest.tmp("no_such_script.lua"))
    clitest.assert_refused(r, "no_such_script.lua")
  end)

  it("reports a syntax error naming the script", function()
    write("local = 1\n")
    local r = clitest.run("run", script)
    clitest.assert_refused(r, "cli_spec_script.lua:1:")
  end)
end)

describe("cropnet info", function()
  it("describes a saved model", function()
    cn.manual_seed(3)
    local net = cn.nn.Sequential { cn.nn.Linear(4, 8), cn.nn.ReLU(), cn.nn.Linear(8, 3) }
    local path = clitest.tmp("cli_spec_model.cropnet")
    assert(cn.model(net, { crop = "lettuce" }):save(path))
    local r = clitest.run("info", path)
    assert.equal(0, r.code)
    assert.matches("parameters: " .. (4 * 8 + 8 + 8 * 3 + 3), r.stdout, 1, true)
    assert.matches("crop: lettuce", r.stdout, 1, true)
    local j = clitest.run("info", path, "--json")
    assert.equal(0, j.code)
    assert.matches('"parameters": 67', j.stdout, 1, true)
    assert.matches('"crop": "lettuce"', j.stdout, 1, true)
  end)

  it("refuses a file that is not a model, naming it", function()
    local path = clitest.tmp("cli_spec_not_a_model.txt")
    local f = assert(io.open(path, "w"))
    f:write("just some text, not a model\n")
    f:close()
    local r = clitest.run("info", path)
    clitest.assert_refused(r, "cropnet: info: " .. path)
  end)
end)

describe("cropnet demo", function()
  it("runs the main job on the embedded default and prints the metrics and the outputs", function()
    local out = clitest.tmp("cli_spec_demo")
    local r = clitest.run("demo", "--out", out, "--epochs", "30")
    assert.equal(0, r.code, r.stderr)
    local oa = tonumber(r.stdout:match("overall accuracy (%d%.%d+)"))
    assert.is_true(oa ~= nil and oa > 0.9, r.stdout)
    for _, name in ipairs { "scene.tif", "labels.tif", "train.tif", "test.tif", "model.cropnet", "map.tif" } do
      assert.is_true(clitest.exists(out .. "/" .. name), name)
      assert.matches(out .. "/" .. name, r.stdout, 1, true)
    end
  end)

  it("refuses a --data folder without SalinasA, naming it", function()
    local r = clitest.run("demo", "--data", clitest.tmp("no_such_data"), "--out", clitest.tmp("cli_spec_demo2"))
    clitest.assert_refused(r, "no_such_data: no SalinasA_corrected.mat")
  end)
end)
