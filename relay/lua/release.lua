-- End a lease: the customer becomes ready again if events are still pending (they arrived
-- during delivery, or were left for later), retrying if `retry_due_ms` is given, else idle.
-- KEYS: pending, leases, lease_owners, ready, retry, retry_state
-- ARGV: customer_key, token, retry_due_ms ('' for none)
-- Returns -1 when the lease was no longer ours (it expired and another worker took over).
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return -1 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
  return 2
end
redis.call('DEL', KEYS[6])
if redis.call('ZCARD', KEYS[1]) > 0 then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[4], 'NX', tonumber(t[1]) * 1000, ARGV[1])
  return 1
end
return 0
