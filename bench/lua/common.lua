-- Shared by every script: thread ids, per-thread failure counts, and a done() that
-- prints one machine-readable line the harness parses (latencies in microseconds).
local M = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function M.init()
  failures = 0
  first_failure = ""
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919 + math.floor(os.clock() * 1e6))
end

-- Any status outside 2xx is a failure of the run (wrk itself only counts >= 400).
function response(status, headers, body)
  if status < 200 or status > 299 then
    failures = failures + 1
    if first_failure == "" then
      first_failure = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local non2xx, first = 0, ""
  for _, thread in ipairs(threads) do
    non2xx = non2xx + (thread:get("failures") or 0)
    local failure = thread:get("first_failure")
    if first == "" and failure then
      first = failure
    end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d bytes=%d non2xx=%d connect=%d read=%d "
      .. "write=%d timeout=%d status=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%d\n",
    summary.requests, summary.duration, summary.bytes, non2xx, e.connect, e.read,
    e.write, e.timeout, e.status, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
  if first ~= "" then
    io.write("BENCH_FIRST_FAILURE " .. string.gsub(first, "[\r\n]", " ") .. "\n")
  end
end

return M
