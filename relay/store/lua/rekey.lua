-- A customer reference was resolved to a ChartMogul uuid: move its waiting events to the
-- uuid's own pending set (so one lease orders and coalesces them with the uuid's other
-- changes), remember the link, and make the uuid ready unless it is busy.
-- KEYS: from_pending, to_pending, ready, leases, retry, links, uuid's events index
-- ARGV: uuid, event key prefix ("relay:event:"), link field ('' for none)
-- Returns the number of events moved.
-- The uuid's events index is scored by received time, as accept writes it (pending sets are
-- scored by occurred time): an event that occurred long ago must not be trimmed as expired.
local items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #items, 2 do
  redis.call('ZADD', KEYS[2], items[i + 1], items[i])
  -- The uuid's events index, like every events index, by received time; the event stays in its
  -- reference's own index too, so the CRM record, external id or email still finds it.
  local received = redis.call('HGET', ARGV[2] .. items[i], 'received_at_ms')
  if received then
    redis.call('ZADD', KEYS[7], received, items[i])
    redis.call('HSET', ARGV[2] .. items[i], 'customer', ARGV[1])
  end
end
redis.call('DEL', KEYS[1])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[6], ARGV[3], ARGV[1]) end
local moved = #items / 2
if moved > 0 and not redis.call('ZSCORE', KEYS[4], ARGV[1]) and not redis.call('ZSCORE', KEYS[5], ARGV[1]) then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[3], 'NX', tonumber(t[1]) * 1000, ARGV[1])
end
return moved
