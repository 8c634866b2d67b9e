-- wrk script of bench/ingest.sh: POST /v1/job-status, every event new (a new run of one of the
-- jobs job-0 .. job-1499 of bench/engine.sql, which feed SLOs 0 .. 499, on one of the 365
-- business days of 2025): the same rows as bench/ingest_plain.pgbench and ingest_batch.pgbench.
--   BATCH: events per request (1: one JSON object; more: a JSON array of that many);
--   RATE:  when set, the requests per second of all threads together (THREADS of them), paced
--          by delay(): each thread hands out send times 1/rate apart to its connections;
--   ROUND: part of every run_id.
-- done() prints "RESULT req/s p50_ms p99_ms non_2xx socket_errors".
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local batch = tonumber(os.getenv("BATCH") or "1")
local rate = tonumber(os.getenv("RATE") or "0")
local nthreads = tonumber(os.getenv("THREADS") or "2")
local round = os.getenv("ROUND") or "0"

-- The 365 business days of 2025 and the status time of each (05:30 UTC the day after).
local day0 = 1735689600 -- 2025-01-01T00:00:00Z
local dates, times = {}, {}
for d = 0, 364 do
  dates[d] = os.date("!%Y-%m-%d", day0 + d * 86400)
  times[d] = os.date("!%Y-%m-%dT05:30:00Z", day0 + (d + 1) * 86400)
end

local n = 0
local headers = { ["content-type"] = "application/json" }

function init(args)
  math.randomseed(os.time() * 1000 + tid * 7919)
end

local function event(k)
  local d = math.random(0, 364)
  return string.format(
    '{"app_id":"bench","job_id":"job-%d","status":"start","status_time":"%s",' ..
    '"business_date":"%s","run_id":"w%s-%d-%d-%d","host_id":"h1"}',
    math.random(0, 1499), times[d], dates[d], round, tid, n, k)
end

function request()
  n = n + 1
  local body
  if batch == 1 then
    body = event(0)
  else
    local parts = {}
    for k = 1, batch do parts[k] = event(k) end
    body = "[" .. table.concat(parts, ",") .. "]"
  end
  return wrk.format("POST", "/v1/job-status", headers, body)
end

-- Pacing: a monotonic clock in ms (LuaJIT's ffi; os.clock is CPU time, os.time whole seconds).
if rate > 0 then
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clock_id, bench_timespec *tp);
  ]]
  local ts = ffi.new("bench_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 * nthreads / rate
  local next_at
  -- Called before each request after a connection's first: the wait until the next free send
  -- time of this thread. Falling more than 50 ms behind gives up the missed send times instead of
  -- sending them in a burst.
  function delay()
    local now = now_ms()
    if next_at == nil or next_at < now - 50 then next_at = now end
    next_at = next_at + interval
    return math.max(0, next_at - now)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.status,
    e.connect + e.read + e.write + e.timeout))
end
