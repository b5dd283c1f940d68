-- wrk script of bench/tree_bench.sh: report uploads (POST /v1/device/reports), one counters
-- report per request with an id never used before: TAG-<thread>-<n>, so every request stores a
-- new report (no duplicates). Usage: wrk ... -s tree_report.lua URL -- TOKENS_FILE TAG
-- (TAG must differ between runs, and between wrk processes running at once on one database).
local thread_no = 0
function setup(thread)
  thread:set("tid", thread_no)
  thread_no = thread_no + 1
end
local heads, n, prefix = {}, 0, ""
function init(args)
  for t in io.lines(args[1]) do
    heads[#heads + 1] = {["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json"}
  end
  prefix = (args[2] or "run") .. "-" .. (tid or 0) .. "-"
  n = (tid or 0) * 37
end
function request()
  n = n + 1
  local body = '{"reports":[{"id":"' .. prefix .. n ..
    '","kind":"counters","created_at":"2026-11-23T09:15:00.000Z","urgency":"normal",' ..
    '"body":{"total":' .. (100000 + n) .. ',"copy":2000,"print":' .. n .. '}}]}'
  return wrk.format("POST", "/v1/device/reports", heads[n % #heads + 1], body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
