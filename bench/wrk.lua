-- wrk script for bench/run.sh.
--
-- BENCH_PATHS (optional, comma-separated): each request picks one of these paths at random
-- (case d: 100 of the 10k routes). Requests are formatted once per thread in init(), so the
-- per-request cost in wrk is a table lookup. Without BENCH_PATHS no request() is defined and
-- wrk keeps its static (fastest) request path.
--
-- done() prints one machine-readable line that run.sh parses:
--   BENCH requests=N duration_us=N p50_us=F p99_us=F status=N connect=N read=N write=N timeout=N
-- (status = responses with status > 399, as wrk counts them).

local list = os.getenv("BENCH_PATHS")
if list ~= nil and list ~= "" then
  local paths = {}
  for p in string.gmatch(list, "[^,]+") do
    paths[#paths + 1] = p
  end
  local reqs = {}
  local n = #paths

  init = function(args)
    for i = 1, n do
      reqs[i] = wrk.format(nil, paths[i])
    end
    math.randomseed(os.time() + n)
  end

  request = function()
    return reqs[math.random(n)]
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%.1f p99_us=%.1f status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
