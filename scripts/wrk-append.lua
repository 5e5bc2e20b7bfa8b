-- wrk script: single-event appends (or batches, with BATCH_SIZE), each event a new posting (no
-- stream contention), unique ids. With HOURS_POSTINGS=N instead: single `hours_logged` appends
-- spread over the placements hb-1 … hb-N (student s-K selected on posting hb-K, set up beforehand
-- as bench/ab/run.sh does), so appends meet on streams and on the report summary rows.
-- Usage: wrk -t2 -c32 -d30s --latency -s scripts/wrk-append.lua http://127.0.0.1:8080/v1/events
-- with PLACEMENT_KEY set to a platform key.
local key = os.getenv("PLACEMENT_KEY")
-- BATCH_SIZE=100: each request is a batch (a JSON array) of that many events.
local batch = tonumber(os.getenv("BATCH_SIZE") or "1")
local hoursPostings = tonumber(os.getenv("HOURS_POSTINGS") or "0")
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

local function event()
  counter = counter + 1
  local id = hex(0, 8) .. "-" .. hex(0, 4) .. "-4" .. hex(0, 3) .. "-8" .. hex(0, 3) .. "-" .. hex(0, 12)
  local posting = "pb-" .. prefix .. "-" .. tid .. "-" .. counter
  return '{"id":"' .. id .. '","type":"posted","posting_id":"' .. posting ..
    '","occurred_at":"2026-01-01T00:00:00Z","data":{"company_id":"c-bench","title":"Bench","openings":1,' ..
    '"stipend":{"kind":"fixed","amount_minor":1000,"currency":"USD"}}}'
end

local function hours()
  local n = math.random(1, hoursPostings)
  return '{"id":"' .. hex(0, 8) .. "-" .. hex(0, 4) .. "-4" .. hex(0, 3) .. "-8" .. hex(0, 3) .. "-" .. hex(0, 12) ..
    '","type":"hours_logged","posting_id":"hb-' .. n .. '","occurred_at":"2026-03-02T12:00:00Z",' ..
    '"data":{"student_id":"s-' .. n .. '","minutes":1,"work_date":"2026-03-02"}}'
end

request = function()
  local body
  if hoursPostings > 0 then
    body = hours()
  elseif batch > 1 then
    local events = {}
    for i = 1, batch do events[i] = event() end
    body = "[" .. table.concat(events, ",") .. "]"
  else
    body = event()
  end
  return wrk.format("POST", "/v1/events", {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
