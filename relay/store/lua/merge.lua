-- CRM records were merged into one: the surviving record takes the customer its merged records
-- were linked to, unless that would pick one customer over another.
-- KEYS: links, replay triggers, the index of the surviving record's "link:" cause
-- ARGV: the surviving record, then each merged record
-- Returns {'moved', from record, uuid}: the surviving record is now linked like `from` (and a
-- `merge` trigger is pushed when dead letters wait for its link, relay/store/replays.py);
-- {'kept', record, uuid}: it was linked already, to the only customer any of them names;
-- {'none'}: none of them is linked; {'conflict', record, uuid, other record, other uuid}: two
-- of them are linked to different customers (nothing is written).
local found, order = {}, {}
for _, record in ipairs(ARGV) do
  local uuid = redis.call('HGET', KEYS[1], record)
  if uuid and uuid ~= '' and not found[uuid] then
    found[uuid] = record
    order[#order + 1] = uuid
  end
end
if #order > 1 then return {'conflict', found[order[1]], order[1], found[order[2]], order[2]} end
if #order == 0 then return {'none'} end
local uuid = order[1]
if found[uuid] == ARGV[1] then return {'kept', ARGV[1], uuid} end
redis.call('HSET', KEYS[1], ARGV[1], uuid)
if redis.call('EXISTS', KEYS[3]) == 1 then
  local t = redis.call('TIME')
  redis.call('RPUSH', KEYS[2], cjson.encode({
    trigger = 'merge', cause = 'link:' .. ARGV[1], at_us = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])),
    detail = ARGV[1] .. ' is now linked to ' .. uuid .. ', as ' .. found[uuid] .. ' was',
  }))
end
return {'moved', found[uuid], uuid}
