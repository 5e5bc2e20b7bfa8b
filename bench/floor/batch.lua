-- wrk script: 100-event batches (each event a new posting, unique ids), for the floor server and placementd.
-- Usage: wrk -t2 -c32 -d10s -s bench/floor/batch.lua http://127.0.0.1:8080/v1/events with PLACEMENT_KEY set.
local key = os.getenv("PLACEMENT_KEY") or ""
local size = tonumber(os.getenv("BATCH_SIZE") or "100")
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

local function hex(digits)
  local s = ""
  for _ = 1, digits do s = s .. string.format("%x", math.random(0, 15)) end
  return s
end

request = function()
  local events = {}
  for i = 1, size do
    counter = counter + 1
    local id = hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-8" .. hex(3) .. "-" .. hex(12)
    local posting = "pf-" .. prefix .. "-" .. tid .. "-" .. counter
    events[i] = '{"id":"' .. id .. '","type":"posted","posting_id":"' .. posting ..
      '","occurred_at":"2026-01-01T00:00:00Z","data":{"company_id":"c-bench","title":"Bench","openings":1,' ..
      '"stipend":{"kind":"fixed","amount_minor":1000,"currency":"USD"}}}'
  end
  local body = "[" .. table.concat(events, ",") .. "]"
  return wrk.format("POST", "/v1/events", {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
