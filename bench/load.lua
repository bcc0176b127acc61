-- wrk script: POST /register with a unique email per request, and a JSON summary at the end.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local counter = 0
local run = tostring(os.time())

function request()
  counter = counter + 1
  local body = string.format(
    '{"email": "b%s-%d-%d@example.com", "password": "Correct-h0rse"}', run, tid, counter)
  return wrk.format("POST", "/register", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, e.connect + e.read + e.write + e.timeout + e.status))
end
