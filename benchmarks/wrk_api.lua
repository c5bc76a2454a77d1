-- wrk script for bench_api.py: each request is one line of the requests file
-- ("path<TAB>bearer token"), taken in turn, so distinct users' tokens are spread
-- over the connections. The requests are formatted once, at start: wrk's own CPU
-- per request stays small beside the server's.
--
--   wrk -c 200 -t 2 -d 10s -s wrk_api.lua http://127.0.0.1:PORT -- REQUESTS_FILE THINK_MS
--
-- THINK_MS > 0: each connection pauses 0.5 to 1.5 times THINK_MS between requests.
-- At the end it prints one JSON line (times in microseconds).

local requests = {}
local next_index = 1
local think_ms = 0

function init(args)
  for line in io.lines(args[1]) do
    local path, token = line:match("^([^\t]+)\t(.+)$")
    requests[#requests + 1] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
  end
  think_ms = tonumber(args[2] or "0")
  -- Threads start at different places in the list, not all on the first user.
  next_index = math.random(#requests)
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end

function delay()
  if think_ms > 0 then
    return math.random(math.floor(think_ms / 2), math.floor(think_ms * 3 / 2))
  end
  return 0
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
