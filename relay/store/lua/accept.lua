-- Accept one event durably: dedupe, record, queue for its customer, make the customer ready.
-- accept_many.lua calls check() for every event of a webhook before accept() writes anything.
-- KEYS: event, history, pending, ready, leases, retry, events index, customer's events index
-- ARGV: event_id, customer_key, occurred_ms, now_ms, ttl_s, source, ignored_reason ('' unless
--       the event is only recorded), n, then n payload fields and values (the change "c:0"..,
--       the raw body "r:0"..)
-- The first history entry ("accepted" at now_ms) is not written: readers derive it from the
-- record (Ledger.history); the history list is created by the second entry.
-- accept() returns 0 duplicate, 1 accepted (customer already waiting or busy), 2 accepted and
-- newly ready, 3 recorded as ignored, 4 duplicate with another change (recorded in its history).
local ACCEPT_ARGS = 8
local KEY_TYPES = {'hash', 'list', 'zset', 'zset', 'zset', 'zset', 'zset', 'zset'}
-- Keys 4-7 (ready, leases, retry, events index) are the same for every event: checked once.
local SHARED = {[4] = true, [5] = true, [6] = true, [7] = true}

-- An error message naming the first key that holds something other than what accept() writes
-- (nil when all are fine), for the caller to return before any write: a webhook is stored whole
-- or not at all. `shared`: check the keys every event shares too.
local function check(KEYS, shared)
  for i, wanted in ipairs(KEY_TYPES) do
    if shared or not SHARED[i] then
      local found = redis.call('TYPE', KEYS[i])['ok']
      if found ~= 'none' and found ~= wanted then
        return 'accept: key ' .. KEYS[i] .. ' holds a ' .. found .. ', not a ' .. wanted
      end
    end
  end
  return nil
end

-- The change chunks stored at accept ('c:0', 'c:1', …), joined: nil for records of the first layout.
local function stored_change(key)
  local parts, i = {}, 0
  while true do
    local part = redis.call('HGET', key, 'c:' .. i)
    if not part then break end
    parts[#parts + 1] = part
    i = i + 1
  end
  if i == 0 then return nil end
  return table.concat(parts)
end

local function accept(KEYS, ARGV)
  local n = tonumber(ARGV[ACCEPT_ARGS])
  if redis.call('EXISTS', KEYS[1]) == 1 then
    local change = {}
    for k = 1, 2 * n, 2 do
      if string.sub(ARGV[ACCEPT_ARGS + k], 1, 2) == 'c:' then change[#change + 1] = ARGV[ACCEPT_ARGS + k + 1] end
    end
    local stored = stored_change(KEYS[1])
    local new = table.concat(change)
    if stored == nil or stored == new then return 0 end
    -- Built here, not by the caller: the entry is rare, its arguments would be on every accept.
    local entry = '{"at_ms":' .. ARGV[4] .. ',"what":"conflicting_duplicate","source":' .. cjson.encode(ARGV[6])
      .. ',"digest":"' .. string.sub(redis.sha1hex(new), 1, 16) .. '"}'
    if redis.call('RPUSH', KEYS[2], entry) == 1 then
      local ttl = redis.call('PTTL', KEYS[1])
      if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
    end
    return 4
  end
  local ignored = ARGV[7] ~= ''
  -- No event_id (the key names it) and no attempts (absent: 0): see relay/store/records.py.
  redis.call('HSET', KEYS[1],
    'source', ARGV[6], 'customer', ARGV[2], 'occurred_at_ms', ARGV[3], 'received_at_ms', ARGV[4],
    'status', ignored and 'ignored' or 'queued', unpack(ARGV, ACCEPT_ARGS + 1, ACCEPT_ARGS + 2 * n))
  if ignored then redis.call('HSET', KEYS[1], 'reason', ARGV[7]) end
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1])
  redis.call('ZADD', KEYS[8], ARGV[4], ARGV[1])
  redis.call('EXPIRE', KEYS[8], ARGV[5])
  if ignored then return 3 end
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
  if redis.call('ZSCORE', KEYS[5], ARGV[2]) or redis.call('ZSCORE', KEYS[6], ARGV[2]) then return 1 end
  if redis.call('ZADD', KEYS[4], 'NX', ARGV[4], ARGV[2]) == 1 then return 2 end
  return 1
end
