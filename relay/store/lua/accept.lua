-- Accept one event durably: dedupe, record, queue for its customer, make the customer ready.
-- accept_many.lua calls check() for every event of a webhook before accept() writes anything.
-- An event's keys are its family prefixes (relay/store/keys.py, passed by accept_many.lua)
-- followed by its event id or customer key: P.event, P.history, P.pending, P.customer_events.
-- S: the keys every event shares: S.ready, S.leases, S.retry, S.events, S.dlq.
-- E: the event: id, customer, occurred_ms, source, kind ('' queued, 'i' only recorded
--    (ignored), 'd' a dead letter from the start), and where its payload fields are in ARGV:
--    `at`, `n` pairs ("c:0", piece, … the change, "r:0", piece, … the raw payload: pieces of
--    at most 64 bytes cut by the caller, relay/store/records.py says why; cutting them here
--    cost Redis ~1 µs a piece; an ignored or dead event's "reason" and "error" follow them).
-- The first history entry ("accepted" at now_ms) is not written: readers derive it from the
-- record (Ledger.history); the history list is created by the second entry.
-- accept() returns 0 duplicate, 1 accepted (customer already waiting or busy), 2 accepted and
-- newly ready, 3 recorded as ignored, 4 duplicate with another change (recorded in its history),
-- 5 recorded as a dead letter.
-- Globals read once: in Redis 7 every global read goes through the protected table's metatable.
local call, sub, concat, sha1hex, encode = redis.call, string.sub, table.concat, redis.sha1hex, cjson.encode
local ipairs, unpack, tonumber, min = ipairs, unpack, tonumber, math.min

-- An error message when `key` holds something other than `wanted` (nil when it is fine).
local function wrong_type(key, wanted)
  local found = call('TYPE', key)['ok']
  if found ~= 'none' and found ~= wanted then
    return 'accept: key ' .. key .. ' holds a ' .. found .. ', not a ' .. wanted
  end
  return nil
end

local function event_keys(P, E)
  return {
    event = P.event .. E.id,
    history = P.history .. E.id,
    pending = P.pending .. E.customer,
    customer_events = P.customer_events .. E.customer,
  }
end

-- Before any write of its webhook: an error message naming the first of the event's keys that
-- holds something other than what accept() writes, or nil. Sets K.exists (the record is there:
-- a duplicate). M is this call's memory (new_memory()).
local function check(K, M)
  local found = call('TYPE', K.event)['ok']
  K.exists = found ~= 'none'
  if K.exists and found ~= 'hash' then
    return 'accept: key ' .. K.event .. ' holds a ' .. found .. ', not a hash'
  end
  if K.exists then  -- only a duplicate writes its history (a conflicting one)
    local problem = wrong_type(K.history, 'list')
    if problem then return problem end
  end
  if not M.checked[K.pending] then
    local problem = wrong_type(K.pending, 'zset') or wrong_type(K.customer_events, 'zset')
    if problem then return problem end
    M.checked[K.pending] = true
  end
  return nil
end

-- The change pieces stored at accept ('c:0', 'c:1', …), joined: nil for records of the first layout.
local function stored_change(key)
  local parts, i = {}, 0
  while true do
    local part = call('HGET', key, 'c:' .. i)
    if not part then break end
    parts[#parts + 1] = part
    i = i + 1
  end
  if i == 0 then return nil end
  return concat(parts)
end

-- What one script call remembers, so that a customer's second event costs fewer commands:
-- customer keys whose types were checked, records written, whether a customer is known to be
-- waiting or busy, and the index entries accept() adds, written by write_indexes() with one
-- ZADD per sorted set (score, member, score, member, …).
local function new_memory()
  return {checked = {}, written = {}, customers = {}, indexes = {}, index_keys = {}, dead = 0}
end

local function add_to_index(M, key, score, member)
  local entries = M.indexes[key]
  if not entries then
    entries = {}
    M.indexes[key] = entries
    M.index_keys[#M.index_keys + 1] = key
  end
  entries[#entries + 1] = score
  entries[#entries + 1] = member
end

-- The index entries accept() gathered, each customer's events index then given the record's
-- expiry (ZADD keeps a key's TTL, a new key has none).
local ZADD_PAIRS = 1000  -- per ZADD: unpack() has a stack limit
local function write_indexes(M, P, expire_at_ms)
  for _, key in ipairs(M.index_keys) do
    local entries = M.indexes[key]
    for at = 1, #entries, 2 * ZADD_PAIRS do
      call('ZADD', key, unpack(entries, at, min(#entries, at + 2 * ZADD_PAIRS - 1)))
    end
    if sub(key, 1, #P.customer_events) == P.customer_events then
      call('PEXPIREAT', key, expire_at_ms)
    end
  end
  M.indexes, M.index_keys = {}, {}
end

-- The status a recorded event starts in, by its kind ('' is 'queued').
local STATUS = {i = 'ignored', d = 'dead'}

-- Records the event (its index entries wait in M for write_indexes()); returns its answer.
-- The change an event carries: its "c:" pieces, joined.
local function new_change(E)
  local parts = {}
  for k = E.at, E.at + 2 * E.n - 1, 2 do
    if sub(ARGV[k], 1, 2) == 'c:' then parts[#parts + 1] = ARGV[k + 1] end
  end
  return concat(parts)
end

local function accept(K, S, E, M, now_ms, expire_at_ms)
  if K.exists or M.written[K.event] then  -- a duplicate (perhaps of an event of this call)
    local stored, new = stored_change(K.event), new_change(E)
    if stored == nil or stored == new then return 0 end
    local entry = '{"at_ms":' .. now_ms .. ',"what":"conflicting_duplicate","source":' .. encode(E.source)
      .. ',"digest":"' .. sub(sha1hex(new), 1, 16) .. '"}'
    if call('RPUSH', K.history, entry) == 1 then
      local ttl = call('PTTL', K.event)
      if ttl > 0 then call('PEXPIRE', K.history, ttl) end
    end
    return 4
  end
  local kind = E.kind
  -- No event_id (the key names it) and no attempts (absent: 0): see relay/store/records.py.
  call('HSET', K.event,
    'source', E.source, 'customer', E.customer, 'occurred_at_ms', E.occurred_ms, 'received_at_ms', now_ms,
    'status', kind == '' and 'queued' or STATUS[kind], unpack(ARGV, E.at, E.at + 2 * E.n - 1))
  call('PEXPIREAT', K.event, expire_at_ms)
  M.written[K.event] = true
  add_to_index(M, S.events, now_ms, E.id)
  add_to_index(M, K.customer_events, now_ms, E.id)
  if kind ~= '' then
    if kind == 'i' then return 3 end
    -- Scored in microseconds, one apart within a call, as finish.lua scores its dead letters.
    M.dead = M.dead + 1
    call('ZADD', S.dlq, tonumber(now_ms) * 1000 + M.dead, E.id)
    call('HSET', K.event, 'dead_at_ms', now_ms)
    return 5
  end
  add_to_index(M, K.pending, E.occurred_ms, E.id)
  local customer = M.customers[E.customer]
  if customer then return 1 end  -- already found waiting or busy in this call
  M.customers[E.customer] = true
  if call('ZSCORE', S.leases, E.customer) or call('ZSCORE', S.retry, E.customer) then return 1 end
  if call('ZADD', S.ready, 'NX', now_ms, E.customer) == 1 then return 2 end
  return 1
end
