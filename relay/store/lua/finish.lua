-- Settle a delivery's outcomes and, when asked, end its lease — atomically, and only while the
-- lease is still the caller's (a worker whose lease was taken over writes nothing).
-- KEYS: pending, leases, lease_owners, ready, retry, retry_state, dlq, applied, inflight,
--       mirror registry, links, replay triggers; then per outcome: event, history, mirror job,
--       then the index of each of its causes (relay/store/replays.py)
-- ARGV: customer, token, ttl_s, release ('1' or ''), retry_due_ms ('' for none),
--       clear_inflight ('1' or ''), applied fields as a JSON object ('' for none; each value
--       "<occurred ms>:<event id>"), outcome count, the outcome fields as a JSON array (removed
--       from a record before its new outcome is written), the dead letters' retention in s;
--       then per outcome: event_id, status, fields as a JSON array [k, v, …], history entry,
--       mirror job id, n, then the mirror job's n fields and values (raw bytes: rq compresses),
--       then its number of causes, '1' to re-check its "link:" causes, and each cause
-- Returns -1 when the lease was not the caller's; else, when releasing, 0 idle, 1 ready again
-- (events still wait), 2 retrying; 0 when only settling.
-- A history list is created by an event's second entry (the first is in its record): it
-- expires with the record. A dead letter's record and history are kept for the dead letters'
-- retention (never shortened), not the event TTL. A dead letter is indexed under each of its
-- causes, scored by when it died; a "link:" cause already linked (the link was written while
-- this delivery looked for it) pushes a `link_found` trigger dated after every death here.
local customer, token, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HGET', KEYS[3], customer) ~= token then return -1 end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local n = tonumber(ARGV[8])
local outcome_fields = cjson.decode(ARGV[9])
local dlq_ttl = tonumber(ARGV[10])
local a, k = 10, 12
for i = 1, n do
  local event_id, status = ARGV[a + 1], ARGV[a + 2]
  local job_fields = tonumber(ARGV[a + 6])
  local job = {unpack(ARGV, a + 7, a + 6 + 2 * job_fields)}
  local c = a + 7 + 2 * job_fields
  local causes, recheck = tonumber(ARGV[c]), ARGV[c + 1] == '1'
  redis.call('ZREM', KEYS[1], event_id)
  -- An expired record is never written again: a partial hash would outlive its TTL.
  if status ~= 'expired' and redis.call('EXISTS', KEYS[k + 1]) == 1 then
    redis.call('HDEL', KEYS[k + 1], unpack(outcome_fields))
    redis.call('HSET', KEYS[k + 1], 'status', status, unpack(cjson.decode(ARGV[a + 3])))
    local pushed = redis.call('RPUSH', KEYS[k + 2], ARGV[a + 4])
    if status == 'dead' then
      if redis.call('PTTL', KEYS[k + 1]) < dlq_ttl * 1000 then redis.call('PEXPIRE', KEYS[k + 1], dlq_ttl * 1000) end
      redis.call('PEXPIRE', KEYS[k + 2], redis.call('PTTL', KEYS[k + 1]))
      -- Microseconds, one apart within a call: dead letters list newest first, ties included.
      redis.call('ZADD', KEYS[7], now_us + i, event_id)
      if job_fields > 0 then
        redis.call('HSET', KEYS[k + 3], unpack(job))
        redis.call('EXPIRE', KEYS[k + 3], dlq_ttl)
        redis.call('ZADD', KEYS[10], now_ms / 1000 + dlq_ttl, ARGV[a + 5])
      end
      for j = 1, causes do
        local index, cause = KEYS[k + 3 + j], ARGV[c + 1 + j]
        redis.call('ZADD', index, now_us + i, event_id)
        redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (now_us - dlq_ttl * 1000000))
        redis.call('PEXPIRE', index, dlq_ttl * 1000)
        local linked = recheck and string.sub(cause, 1, 5) == 'link:' and redis.call('HGET', KEYS[11], string.sub(cause, 6))
        if linked and linked ~= '' then
          redis.call('RPUSH', KEYS[12], cjson.encode({
            trigger = 'link_found', cause = cause, at_us = string.format('%.0f', now_us + n + 1),
            detail = string.sub(cause, 6) .. ' is linked to ' .. linked,
          }))
        end
      end
    elseif pushed == 1 then
      local left = redis.call('PTTL', KEYS[k + 1])
      if left > 0 then redis.call('PEXPIRE', KEYS[k + 2], left) end
    end
  end
  k = k + 3 + causes
  a = c + 1 + causes
end
if ARGV[7] ~= '' then
  local applied = cjson.decode(ARGV[7])
  for field, at in pairs(applied) do redis.call('HSET', KEYS[8], field, at) end
  redis.call('EXPIRE', KEYS[8], ttl)
end
if ARGV[6] == '1' then redis.call('DEL', KEYS[9]) end
if ARGV[4] ~= '1' then return 0 end
redis.call('HDEL', KEYS[3], customer)
redis.call('ZREM', KEYS[2], customer)
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[5], ARGV[5], customer)
  return 2
end
redis.call('DEL', KEYS[6])
if redis.call('ZCARD', KEYS[1]) > 0 then
  redis.call('ZADD', KEYS[4], 'NX', now_ms, customer)
  return 1
end
return 0
