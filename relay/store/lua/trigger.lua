-- Causes went away: push a trigger for each of them that keeps a dead letter waiting (its
-- index exists; relay/store/replays.py); a cause no dead letter waits for costs nothing more.
-- KEYS: replay triggers, then each cause's index
-- ARGV: the trigger, the most triggers the list keeps, then per cause: the cause and a detail
-- Returns how many triggers were pushed, dated by Redis's clock in µs, as dead letters are.
local t = redis.call('TIME')
local at = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
local pushed = 0
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local c = 3 + 2 * (i - 2)
    redis.call('RPUSH', KEYS[1], cjson.encode({trigger = ARGV[1], cause = ARGV[c], detail = ARGV[c + 1], at_us = at}))
    pushed = pushed + 1
  end
end
if pushed > 0 then redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1) end
return pushed
