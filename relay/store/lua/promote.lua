-- Maintenance: customers whose retry is due, or whose lease expired (a worker died), become ready.
-- KEYS: retry, leases, lease_owners, ready
-- ARGV: limit
-- Returns {due retries promoted, expired leases recovered}.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, ARGV[1])
for _, customer in ipairs(due) do
  redis.call('ZREM', KEYS[1], customer)
  redis.call('ZADD', KEYS[4], 'NX', now_ms, customer)
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms, 'LIMIT', 0, ARGV[1])
for _, customer in ipairs(expired) do
  redis.call('ZREM', KEYS[2], customer)
  redis.call('HDEL', KEYS[3], customer)
  redis.call('ZADD', KEYS[4], 'NX', now_ms, customer)
end
return {#due, #expired}
