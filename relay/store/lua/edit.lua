-- Store an operator's edited change on a dead event (it stays dead until replayed), marked as
-- edited: every replay sends it as it is, unless the operator asks to re-map the CRM payload.
-- KEYS: event, history, customer index of the change's customer
-- ARGV: change json, customer key, history entry, ttl_s, event_id, now_ms
-- Returns 1 stored, 0 the event is not dead, -1 its record has expired.
-- A history list is created by an event's second entry (the first is in its record): it
-- expires with the record.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status ~= 'dead' then return 0 end
redis.call('HSET', KEYS[1], 'change', ARGV[1], 'customer', ARGV[2], 'edited_at_ms', ARGV[6])
if redis.call('RPUSH', KEYS[2], ARGV[3]) == 1 then local t = redis.call('PTTL', KEYS[1]) if t > 0 then redis.call('PEXPIRE', KEYS[2], t) end end
local received = redis.call('HGET', KEYS[1], 'received_at_ms')
redis.call('ZADD', KEYS[3], received, ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
