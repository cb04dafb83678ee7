-- A worker's deliveries since it last said: the fleet's last failure and first success since.
-- KEYS: delivery health
-- ARGV: the worker's last failure (ms; '' none), its first success after it (ms; '' none)
-- A failure newer than the one kept starts the healthy time over; a success after the kept
-- failure starts it, unless one already did. Workers' reports may arrive out of order.
local failed = tonumber(redis.call('HGET', KEYS[1], 'failed_at_ms') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) > failed then
  failed = tonumber(ARGV[1])
  redis.call('HSET', KEYS[1], 'failed_at_ms', ARGV[1])
  local since = redis.call('HGET', KEYS[1], 'healthy_since_ms')
  if since and tonumber(since) <= failed then redis.call('HDEL', KEYS[1], 'healthy_since_ms') end
end
if ARGV[2] ~= '' and tonumber(ARGV[2]) > failed then
  local since = redis.call('HGET', KEYS[1], 'healthy_since_ms')
  if not since or tonumber(since) <= failed then redis.call('HSET', KEYS[1], 'healthy_since_ms', ARGV[2]) end
end
return 1
