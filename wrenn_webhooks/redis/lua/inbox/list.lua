-- list: the first items of an index (items, pending, failed, done or dead).
-- ARGV: 3 index, 4 limit.
-- Returns the hash (HGETALL) of each item, in the order of the index.
local ids, limit = {}, tonumber(ARGV[4])
if ARGV[3] == 'dead' then
  for _, entry in ipairs(redis.call('XRANGE', S .. ':dead', '-', '+', 'COUNT', limit)) do
    table.insert(ids, entry[2][2])
  end
else
  ids = redis.call('ZRANGE', S .. ':' .. ARGV[3], 0, limit - 1)
end
local items = {}
for _, id in ipairs(ids) do
  local fields = redis.call('HGETALL', item(id))
  if #fields > 0 then table.insert(items, fields) end
end
return items
