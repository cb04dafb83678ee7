-- Store an operator's edited change on a dead event (it stays dead until replayed).
-- KEYS: event, history, customer index of the change's customer
-- ARGV: change json, customer key, history entry, ttl_s
-- Returns 1 stored, 0 the event is not dead, -1 its record has expired.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status ~= 'dead' then return 0 end
redis.call('HSET', KEYS[1], 'change', ARGV[1], 'customer', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
local received = redis.call('HGET', KEYS[1], 'received_at_ms')
redis.call('ZADD', KEYS[3], received, redis.call('HGET', KEYS[1], 'event_id'))
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
