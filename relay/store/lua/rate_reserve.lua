-- Reserve the next send time under the fleet's shared request rate; returns the wait in ms.
-- Each caller is told how long to wait for its slot; nobody polls, so the fleet sends exactly at
-- the rate. A send time is at least one emission interval after the previous one (GCRA), and at
-- most `per_window` sends fall in any window of 1 s + a margin (a sliding log of the last sends),
-- because ChartMogul counts requests per second and requests bunch up a little on their way.
-- Server time, so workers on different hosts agree.
-- KEYS: next send time, recent sends, slow-down factor
-- ARGV: interval_ms, per_window, window_ms
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local slowdown = tonumber(redis.call('GET', KEYS[3]) or '1')
local interval = tonumber(ARGV[1]) * slowdown
local per_window = math.max(1, math.floor(tonumber(ARGV[2]) / slowdown))
local window = tonumber(ARGV[3])
local at = tonumber(redis.call('GET', KEYS[1]) or now)
if at < now then at = now end
local sent = redis.call('LRANGE', KEYS[2], -per_window, -1)
if #sent >= per_window then
  local earliest = tonumber(sent[1]) + window
  if at < earliest then at = earliest end
end
redis.call('SET', KEYS[1], tostring(at + interval), 'PX', math.ceil(at + interval - now) + 1000)
redis.call('RPUSH', KEYS[2], tostring(at))
redis.call('LTRIM', KEYS[2], -per_window, -1)
redis.call('PEXPIRE', KEYS[2], math.ceil(at - now + window) + 1000)
return tostring(at - now)
