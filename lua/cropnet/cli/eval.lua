-- cropnet eval MAP REFERENCE [--json]: a crop map measured against reference labels.
local cli = require "cropnet.cli"

local eval = {}

eval.help = [==[
usage: cropnet eval MAP.tif REFERENCE.tif [--json]

Counts every pixel labelled in REFERENCE (0 = unlabelled, skipped) by the class MAP gives it and
prints the overall accuracy, the average accuracy (mean per-class recall), Cohen's kappa, each
class's precision, recall, F1 and support, and the confusion matrix (rows: reference classes,
columns: predicted classes in the same order, then ids only the map uses, then 0 when the map
left reference pixels unclassified; those count as misses). The two rasters must share a grid.

--json prints one JSON object instead:
  {"oa": f, "aa": f, "kappa": f, "total": n,
   "classes": [{"id": i, "name": s, "precision": f, "recall": f, "f1": f, "support": n}],
   "confusion": [[n, ...]], "predicted_ids": [i, ...]}
where confusion's columns are predicted_ids (the class ids in order, then any extra ones).]==]

local function as_json(r)
  local json = require "cropnet.json"
  local classes = {}
  for i, c in ipairs(r.classes) do
    classes[i] = { id = c.id, name = c.name, precision = c.precision, recall = c.recall,
                   f1 = c.f1, support = c.support }
  end
  return json.encode({ oa = r.oa, aa = r.aa, kappa = r.kappa, total = r.total, classes = classes,
                       confusion = r.confusion, predicted_ids = r.predicted_ids })
end

local function as_table(r, map, ref)
  local out = {}
  local function add(...) out[#out + 1] = string.format(...) end
  add("map:       %s\nreference: %s\n", map, ref)
  add("overall accuracy  %.4f\naverage accuracy  %.4f\nkappa             %.4f\npixels            %d\n\n",
    r.oa, r.aa, r.kappa, r.total)
  local width = 4
  for _, c in ipairs(r.classes) do width = math.max(width, #c.name) end
  add("%6s  %-" .. width .. "s  %9s  %6s  %6s  %8s\n", "id", "name", "precision", "recall", "f1", "support")
  for _, c in ipairs(r.classes) do
    add("%6d  %-" .. width .. "s  %9.4f  %6.4f  %6.4f  %8d\n", c.id, c.name, c.precision, c.recall, c.f1, c.support)
  end
  add("\nconfusion matrix (rows: reference, columns: predicted; 0 = unclassified)\n%6s", "")
  local cell = 6
  for _, row in ipairs(r.confusion) do
    for _, v in ipairs(row) do cell = math.max(cell, #tostring(v) + 1) end
  end
  for _, id in ipairs(r.predicted_ids) do add("%" .. cell .. "d", id) end
  add("\n")
  for i, row in ipairs(r.confusion) do
    add("%6d", r.classes[i].id)
    for _, v in ipairs(row) do add("%" .. cell .. "d", v) end
    add("\n")
  end
  return table.concat(out)
end

function eval.run(args)
  local opts, pos = cli.parse("eval", args, { ["--json"] = "flag" })
  if #pos ~= 2 then cli.fail("eval", "expected MAP and REFERENCE (usage: cropnet eval MAP.tif REFERENCE.tif [--json])") end
  local cn = require "cropnet"
  local r, err = cn.evaluate(pos[1], pos[2])
  if not r then cli.fail("eval", err) end
  io.stdout:write(opts.json and as_json(r) .. "\n" or as_table(r, pos[1], pos[2]))
  return 0
end

return eval
