-- Accept the webhooks of one group commit (relay/store/commit.py) in ONE script call: each
-- webhook's events, and the links they prove, all or nothing, in arrival order; one durable
-- write. accept.lua (pasted in ahead of this by the loader) checks and accepts each event; a
-- webhook's checks all run before its first write, because Redis does not roll back a script
-- that fails halfway.
-- KEYS: relay:links, relay:ready, relay:leases, relay:retry, relay:events, relay:dlq:us,
--       relay:replay:triggers
-- ARGV: the key prefixes of an event's record, history, customer's pending set and customer's
--       events index; now_ms; expire_at_ms (when the records expire: PEXPIREAT is written to
--       the AOF as it is, where EXPIRE is rewritten first); the key prefix of a dead-letter
--       cause's index; then per webhook: its number of link pairs, the link fields and values,
--       its number of events, and per event: its id, customer, occurred_ms, source, kind ('',
--       'i' ignored, 'd' dead), n, and its n payload field/value pairs
-- A link or parent that changes a record's entry pushes a `link_sent` trigger when dead letters
-- wait for that record's link (relay/store/replays.py).
-- Returns per webhook: accept.lua's answer for each of its events, in order; or, nothing of
-- that webhook written, the message naming a key that holds another type than accept() writes.
-- An error reply (nothing written) when a key every webhook shares holds another type.
local SHARED = {
  {KEYS[1], 'hash'}, {KEYS[2], 'zset'}, {KEYS[3], 'zset'}, {KEYS[4], 'zset'}, {KEYS[5], 'zset'}, {KEYS[6], 'zset'},
  {KEYS[7], 'list'},
}
for _, key in ipairs(SHARED) do
  local problem = wrong_type(key[1], key[2])
  if problem then return redis.error_reply(problem) end
end
local S = {ready = KEYS[2], leases = KEYS[3], retry = KEYS[4], events = KEYS[5], dlq = KEYS[6]}
local P = {event = ARGV[1], history = ARGV[2], pending = ARGV[3], customer_events = ARGV[4]}
local now_ms, expire_at_ms, cause_prefix = ARGV[5], ARGV[6], ARGV[7]
local PARENT = 'parent:'

-- Write a webhook's links and parents; a record whose entry changed to a value, and for which
-- dead letters wait, gets a `link_sent` trigger (a parent entry "parent:<record>" lets that
-- record through; a parent taken away, "", lets nothing through).
local function write_links(at, count)
  for f = at, at + 2 * count - 1, 2 do
    local field, value = ARGV[f], ARGV[f + 1]
    if call('HGET', KEYS[1], field) ~= value then
      call('HSET', KEYS[1], field, value)
      local record = sub(field, 1, #PARENT) == PARENT and sub(field, #PARENT + 1) or field
      if value ~= '' and call('EXISTS', cause_prefix .. 'link:' .. record) == 1 then
        local t = call('TIME')
        local detail = field == record and (record .. ' is linked to ' .. value)
          or (record .. "'s parent is " .. value)
        call('RPUSH', KEYS[7], encode({
          trigger = 'link_sent', cause = 'link:' .. record, detail = detail,
          at_us = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])),
        }))
      end
    end
  end
end

local M = new_memory()
local answers, a = {}, 8
while a <= #ARGV do
  local links = tonumber(ARGV[a])
  local links_at = a + 1
  a = links_at + 2 * links
  local n = tonumber(ARGV[a])
  a = a + 1
  local events, problem = {}, nil
  for i = 1, n do
    local E = {
      id = ARGV[a], customer = ARGV[a + 1], occurred_ms = ARGV[a + 2], source = ARGV[a + 3],
      kind = ARGV[a + 4], n = tonumber(ARGV[a + 5]), at = a + 6,
    }
    a = E.at + 2 * E.n
    local K = event_keys(P, E)
    problem = problem or check(K, M)
    events[i] = {K, E}
  end
  if problem then
    answers[#answers + 1] = problem
  else
    if links > 0 then write_links(links_at, links) end
    local results = {}
    for i, event in ipairs(events) do results[i] = accept(event[1], S, event[2], M, now_ms, expire_at_ms) end
    answers[#answers + 1] = results
  end
end
write_indexes(M, P, expire_at_ms)  -- once for the whole call: one ZADD per sorted set
return answers
