-- Accept one webhook's events (and the links they prove) in ONE atomic call: all or nothing,
-- one durable write, one round trip. Each event goes through accept.lua, which the loader
-- pastes in as the function `accept` (so the two cannot drift apart).
-- KEYS: relay:links, then accept.lua's 8 keys per event
-- ARGV: number of link pairs, the link fields and values, then accept.lua's 10 arguments per event
-- Returns accept.lua's answer for each event, in order.
local links = tonumber(ARGV[1])
if links > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * links)) end
local results = {}
local a = 2 + 2 * links
for k = 2, #KEYS, 8 do
  results[#results + 1] = accept({unpack(KEYS, k, k + 7)}, {unpack(ARGV, a, a + 9)})
  a = a + 10
end
return results
