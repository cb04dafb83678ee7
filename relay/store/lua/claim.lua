-- Lease up to N ready customers to one delivery run, oldest ready first.
-- KEYS: ready, leases, lease_owners
-- ARGV: n, lease_ms, token
-- Returns the customer keys now leased to `token`.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
local leased = {}
for i = 1, #popped, 2 do
  local customer = popped[i]
  redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[2]), customer)
  redis.call('HSET', KEYS[3], customer, ARGV[3])
  leased[#leased + 1] = customer
end
return leased
