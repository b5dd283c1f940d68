-- wrk script of bench/tree_bench.sh: idle device polls (POST /v1/device/poll, wait_s 0), the
-- bearer token rotating over an enrolled fleet. Usage: wrk ... -s tree_poll.lua URL -- TOKENS_FILE
-- Requests are prebuilt once per thread; done() prints one machine-readable RESULT line.
local thread_no = 0
function setup(thread)
  thread:set("offset", thread_no * 37)
  thread_no = thread_no + 1
end
local reqs, i = {}, 0
function init(args)
  local body = '{"boot_id":"b","state":"idle","wait_s":0}'
  for t in io.lines(args[1]) do
    reqs[#reqs + 1] = wrk.format("POST", "/v1/device/poll",
      {["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json"}, body)
  end
  i = offset or 0
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
