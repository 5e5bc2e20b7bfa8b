-- wrk script: single `hours_logged` appends spread over the placements set up beforehand (one
-- student selected on each of POSTINGS postings named hb-1 … hb-N, as bench/ab/run.sh sets up):
-- appends contend on streams and on the report summary rows, as a busy platform's do.
-- Usage: POSTINGS=200 PLACEMENT_KEY=… wrk -t2 -c32 -d30s --latency -s scripts/wrk-hours.lua http://127.0.0.1:8080/v1/events
local key = os.getenv("PLACEMENT_KEY")
local postings = tonumber(os.getenv("POSTINGS") or "200")
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
end

local function hex(digits)
  local s = ""
  for _ = 1, digits do s = s .. string.format("%x", math.random(0, 15)) end
  return s
end

request = function()
  local id = hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-8" .. hex(3) .. "-" .. hex(12)
  local n = math.random(1, postings)
  local body = '{"id":"' .. id .. '","type":"hours_logged","posting_id":"hb-' .. n ..
    '","occurred_at":"2026-03-02T12:00:00Z","data":{"student_id":"s-' .. n .. '","minutes":1,"work_date":"2026-03-02"}}'
  return wrk.format("POST", "/v1/events", {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
