-- Take one event out of the dead-letter queue (or, forced, an applied one) and queue it again;
-- its rq-dashboard mirror job goes with it.
-- KEYS: dlq, event, history, pending, ready, leases, retry, mirror job, mirror registry, and the
--       index of the cause an automatic replay acts on (relay/store/replays.py; any key when none)
-- ARGV: event_id, customer_key, occurred_ms, history_entry, change_json ('' keeps the stored one),
--       force ('1': also an event already applied or stale, which is sent again), mirror job id
--       ('' keeps the mirror job: the dashboard's requeue runs it, and rq finishes it itself),
--       the outcome fields as a JSON array (the record's current outcome: removed, the history
--       keeps it); then, for an automatic replay only ('' otherwise): the reasons it may have
--       died for (JSON array), the time its cause went away (µs: it must have died before),
--       how many automatic replays an event may have, and '1' to queue it under its own
--       customer key again (a link or look-up that led nowhere is resolved afresh)
-- Returns 1 replayed, 0 not in the DLQ (and not forced), -1 its record has expired; for an
-- automatic replay also 2 (it died after its cause went away: it waits for a new one) and 3
-- (another reason, or automatic replays used up: an operator's to replay). Only 2 leaves the
-- event in the cause's index.
-- A history list is created by an event's second entry (the first is in its record): it
-- expires with the record. A new change (re-mapped) replaces an operator's edit; the stored
-- one (as stored) keeps it, and its mark: the next replay sends it as edited again.
local automatic = ARGV[9] ~= nil and ARGV[9] ~= ''
local died = redis.call('ZSCORE', KEYS[1], ARGV[1])
if automatic then
  local verdict = nil
  if not died then
    verdict = 0
  elseif redis.call('EXISTS', KEYS[2]) == 0 then
    verdict = nil  -- expired: handled below, as for any replay
  else
    local reason = redis.call('HGET', KEYS[2], 'reason')
    local allowed = false
    for _, wanted in ipairs(cjson.decode(ARGV[9])) do
      if reason == wanted then allowed = true end
    end
    local used = tonumber(redis.call('HGET', KEYS[2], 'auto_replays') or '0')
    if not allowed or used >= tonumber(ARGV[11]) then
      verdict = 3
    elseif tonumber(died) >= tonumber(ARGV[10]) then
      return 2
    end
  end
  if verdict then
    redis.call('ZREM', KEYS[10], ARGV[1])
    return verdict
  end
end
if not died then
  local status = redis.call('HGET', KEYS[2], 'status')
  if ARGV[6] ~= '1' or (status ~= 'applied' and status ~= 'stale') then return 0 end
end
if ARGV[7] ~= '' then
  redis.call('DEL', KEYS[8])
  redis.call('ZREM', KEYS[9], ARGV[7])
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if automatic then redis.call('ZREM', KEYS[10], ARGV[1]) end
  return -1
end
redis.call('HDEL', KEYS[2], unpack(cjson.decode(ARGV[8])))
redis.call('HSET', KEYS[2], 'status', 'queued')
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[2], 'change', ARGV[5])
  redis.call('HDEL', KEYS[2], 'edited_at_ms')
end
if automatic then
  redis.call('HINCRBY', KEYS[2], 'auto_replays', 1)
  redis.call('ZREM', KEYS[10], ARGV[1])
  if ARGV[12] == '1' then redis.call('HSET', KEYS[2], 'customer', ARGV[2]) redis.call('HDEL', KEYS[2], 're_resolved') end
end
if redis.call('RPUSH', KEYS[3], ARGV[4]) == 1 then local t = redis.call('PTTL', KEYS[2]) if t > 0 then redis.call('PEXPIRE', KEYS[3], t) end end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('ZSCORE', KEYS[6], ARGV[2]) or redis.call('ZSCORE', KEYS[7], ARGV[2]) then return 1 end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[5], 'NX', tonumber(t[1]) * 1000, ARGV[2])
return 1
