-- Move dead letters from the first layout (scored in ms) to the current one (scored in µs).
-- KEYS: old dlq, dlq
-- Returns how many moved.
local items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #items, 2 do
  redis.call('ZADD', KEYS[2], 'NX', tonumber(items[i + 1]) * 1000, items[i])
end
redis.call('DEL', KEYS[1])
return #items / 2
