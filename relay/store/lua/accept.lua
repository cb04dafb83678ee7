-- Accept one event durably: dedupe, record, queue for its customer, make the customer ready.
-- KEYS: event, history, pending, ready, leases, retry, events index, customer's events index
-- ARGV: event_id, customer_key, occurred_ms, now_ms, ttl_s, source, change_json, raw, history_entry,
--       ignored_reason ('' unless the event is only recorded)
-- Returns 0 duplicate, 1 accepted (customer already waiting or busy), 2 accepted and newly ready,
-- 3 recorded as ignored.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ignored = ARGV[10] ~= ''
redis.call('HSET', KEYS[1],
  'event_id', ARGV[1], 'source', ARGV[6], 'customer', ARGV[2],
  'occurred_at_ms', ARGV[3], 'received_at_ms', ARGV[4],
  'status', ignored and 'ignored' or 'queued', 'attempts', 0, 'change', ARGV[7], 'raw', ARGV[8])
if ignored then redis.call('HSET', KEYS[1], 'reason', ARGV[10]) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('RPUSH', KEYS[2], ARGV[9])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[8], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[8], ARGV[5])
if ignored then return 3 end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if redis.call('ZSCORE', KEYS[5], ARGV[2]) or redis.call('ZSCORE', KEYS[6], ARGV[2]) then return 1 end
if redis.call('ZADD', KEYS[4], 'NX', ARGV[4], ARGV[2]) == 1 then return 2 end
return 1
