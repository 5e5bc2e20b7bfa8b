-- wrk script: single-event appends, each a new posting (no stream contention), unique ids.
-- Usage: wrk -t2 -c32 -d30s --latency -s scripts/wrk-append.lua http://127.0.0.1:8080/v1/events
-- with PLACEMENT_KEY set to a platform key.
local key = os.getenv("PLACEMENT_KEY")
local threads = {}
local counter = 0
local prefix = ""

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  prefix = string.format("%08x", math.random(0, 0x7fffffff))
end

local function hex(n, digits)
  local s = ""
  for _ = 1, digits do s = s .. string.format("%x", math.random(0, 15)) end
  return s
end

request = function()
  counter = counter + 1
  local id = hex(0, 8) .. "-" .. hex(0, 4) .. "-4" .. hex(0, 3) .. "-8" .. hex(0, 3) .. "-" .. hex(0, 12)
  local posting = "pb-" .. prefix .. "-" .. tid .. "-" .. counter
  local body = '{"id":"' .. id .. '","type":"posted","posting_id":"' .. posting ..
    '","occurred_at":"2026-01-01T00:00:00Z","data":{"company_id":"c-bench","title":"Bench","openings":1,' ..
    '"stipend":{"kind":"fixed","amount_minor":1000,"currency":"USD"}}}'
  return wrk.format("POST", "/v1/events", {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
