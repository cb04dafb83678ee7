-- Take one event out of the dead-letter queue for good; its record and history stay until
-- they expire, and its rq-dashboard mirror job goes.
-- KEYS: dlq, event, history, mirror job, mirror registry
-- ARGV: event_id, history entry, now_ms, mirror job id
-- Returns 1 purged, 0 not in the DLQ, -1 its record had expired (the DLQ entry is dropped).
-- A history list is created by an event's second entry (the first is in its record): it
-- expires with the record.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[4])
redis.call('ZREM', KEYS[5], ARGV[4])
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
redis.call('HSET', KEYS[2], 'status', 'purged', 'purged_at_ms', ARGV[3])
if redis.call('RPUSH', KEYS[3], ARGV[2]) == 1 then local t = redis.call('PTTL', KEYS[2]) if t > 0 then redis.call('PEXPIRE', KEYS[3], t) end end
return 1
