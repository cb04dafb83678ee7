-- Take one event out of the dead-letter queue (or, forced, an applied one) and queue it again;
-- its rq-dashboard mirror job goes with it.
-- KEYS: dlq, event, history, pending, ready, leases, retry, mirror job, mirror registry
-- ARGV: event_id, customer_key, occurred_ms, history_entry, change_json ('' keeps the stored one),
--       force ('1': also an event already applied or stale, which is sent again), mirror job id
--       ('' keeps the mirror job: the dashboard's requeue runs it, and rq finishes it itself),
--       the outcome fields as a JSON array (the record's current outcome: removed, the history
--       keeps it)
-- Returns 1 replayed, 0 not in the DLQ (and not forced), -1 its record has expired.
-- A history list is created by an event's second entry (the first is in its record): it
-- expires with the record. A new change (re-mapped) replaces an operator's edit; the stored
-- one (as stored) keeps it, and its mark: the next replay sends it as edited again.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local status = redis.call('HGET', KEYS[2], 'status')
  if ARGV[6] ~= '1' or (status ~= 'applied' and status ~= 'stale') then return 0 end
end
if ARGV[7] ~= '' then
  redis.call('DEL', KEYS[8])
  redis.call('ZREM', KEYS[9], ARGV[7])
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return -1
end
redis.call('HDEL', KEYS[2], unpack(cjson.decode(ARGV[8])))
redis.call('HSET', KEYS[2], 'status', 'queued')
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[2], 'change', ARGV[5])
  redis.call('HDEL', KEYS[2], 'edited_at_ms')
end
if redis.call('RPUSH', KEYS[3], ARGV[4]) == 1 then local t = redis.call('PTTL', KEYS[2]) if t > 0 then redis.call('PEXPIRE', KEYS[3], t) end end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('ZSCORE', KEYS[6], ARGV[2]) or redis.call('ZSCORE', KEYS[7], ARGV[2]) then return 1 end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[5], 'NX', tonumber(t[1]) * 1000, ARGV[2])
return 1
