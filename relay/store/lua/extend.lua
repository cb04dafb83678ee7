-- Heartbeat: push a lease's expiry forward while its delivery is still running.
-- KEYS: leases, lease_owners
-- ARGV: customer_key, token, lease_ms
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) * 1000 + tonumber(ARGV[3]), ARGV[1])
return 1
