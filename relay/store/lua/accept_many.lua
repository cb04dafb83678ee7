-- Accept one webhook's events (and the links they prove) in ONE atomic call: all or nothing,
-- one durable write, one round trip. accept.lua (pasted in ahead of this by the loader) checks
-- and accepts each event; every check runs before the first write, because Redis does not roll
-- back a script that fails halfway.
-- KEYS: relay:links, then accept.lua's 8 keys per event
-- ARGV: number of link pairs, the link fields and values, then per event accept.lua's
--       ACCEPT_ARGS arguments followed by its 2n payload fields and values
-- Returns accept.lua's answer for each event, in order; an error reply (nothing written) when a
-- key holds another type than the script writes.
local links = tonumber(ARGV[1])
local found = redis.call('TYPE', KEYS[1])['ok']
if found ~= 'none' and found ~= 'hash' then
  return redis.error_reply('accept: key ' .. KEYS[1] .. ' holds a ' .. found .. ', not a hash')
end
local calls = {}
local a = 2 + 2 * links
for k = 2, #KEYS, 8 do
  local n = tonumber(ARGV[a + ACCEPT_ARGS - 1])
  local stop = a + ACCEPT_ARGS - 1 + 2 * n
  local event_keys, event_args = {unpack(KEYS, k, k + 7)}, {unpack(ARGV, a, stop)}
  local problem = check(event_keys, k == 2)
  if problem then return redis.error_reply(problem) end
  calls[#calls + 1] = {event_keys, event_args}
  a = stop + 1
end
if links > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * links)) end
local results = {}
for _, call in ipairs(calls) do results[#results + 1] = accept(call[1], call[2]) end
return results
