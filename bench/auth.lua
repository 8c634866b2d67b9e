-- wrk script of bench/auth.sh: POST /v1/job-status, each request a new event (a new run of one
-- of 100 jobs per thread; the jobs have no SLO, so the insert is as cheap as it gets and the
-- share of authentication is as large as it gets). AUTH is the Authorization header ("" for none).
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local auth = os.getenv("AUTH") or ""
local round = os.getenv("ROUND") or "0"
local n = 0

function request()
  n = n + 1
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local body = string.format(
    '{"app_id":"overdrafts","job_id":"bench-%d-%d","status":"start","status_time":"%s",' ..
    '"business_date":"%s","run_id":"r%s-%d","host_id":"bench"}',
    tid, n % 100, now, os.date("!%Y-%m-%d"), round, n)
  local headers = { ["content-type"] = "application/json" }
  if auth ~= "" then headers["authorization"] = auth end
  return wrk.format("POST", "/v1/job-status", headers, body)
end

local bad = 0
function response(status)
  if status ~= 201 then bad = bad + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, summary.errors.status))
end
