-- wrk script for tests/bench/loadgen.py: sends pre-built, pre-signed raw HTTP requests.
-- The pool file holds records "<length>\n<request bytes>"; thread k reads "<pool>.<k>", so no
-- two threads share a request. Each request is sent once; when a thread runs out it starts
-- over and counts a wrap (the relay then answers duplicates: reported, not hidden).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local pool, n, i = {}, 0, 0
wraps = 0
sent = 0

function init(args)
  local f = assert(io.open(args[1] .. "." .. id, "rb"))
  while true do
    local len = f:read("*n")
    if not len then break end
    f:read(1)
    n = n + 1
    pool[n] = f:read(len)
  end
  f:close()
end

function request()
  i = i + 1
  if i > n then
    i = 1
    wraps = wraps + 1
  end
  sent = sent + 1
  return pool[i]
end

function done(summary, latency, requests)
  local total_wraps, total_sent = 0, 0
  for _, thread in ipairs(threads) do
    total_wraps = total_wraps + thread:get("wraps")
    total_sent = total_sent + thread:get("sent")
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "wraps": %d, "sent": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, total_wraps, total_sent))
end
