-- cropnet.json: a small JSON encoder for the metadata cropnet writes (class tables, --json
-- output). Tables with only positive integer keys 1..n encode as arrays, others as objects with
-- sorted keys (stable output); numbers keep integer form when they are integers.
local json = {}

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local object_mt = { __jsontype = "object" }

-- Marks t as an object, so that an empty t encodes as {} rather than [].
function json.object(t)
  return setmetatable(t or {}, object_mt)
end

local function is_array(t)
  if getmetatable(t) == object_mt then return false end
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  return n == #t
end

local encode

local function encode_value(v, depth)
  local kind = type(v)
  if kind == "string" then return encode_string(v) end
  if kind == "boolean" then return tostring(v) end
  if kind == "nil" then return "null" end
  if kind == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.17g", v):gsub(",", ".")
  end
  if kind == "table" then return encode(v, depth + 1) end
  error("json: cannot encode a " .. kind, 0)
end

encode = function(t, depth)
  if depth > 64 then error("json: nested too deeply", 0) end
  local parts = {}
  if is_array(t) then
    for i = 1, #t do parts[i] = encode_value(t[i], depth) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("json: object keys must be strings", 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = encode_string(k) .. ": " .. encode_value(t[k], depth) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function json.encode(v)
  return encode_value(v, 0)
end

return json
