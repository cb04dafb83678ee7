-- Take a connection slot unless the fleet already holds `cap` (or the lowered cap); slots of a
-- worker that died expire on their own.
-- KEYS: slots in flight, lowered cap
-- ARGV: cap, slot_ttl_ms, holder
-- Returns 1 taken, 0 full.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local cap = tonumber(redis.call('GET', KEYS[2]) or ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
return 1
