-- finish: mark an item done. ARGV: 3 id, 4 now.
local id = ARGV[3]
local status = redis.call('HGET', item(id), 'status')
if status ~= 'pending' and status ~= 'dead' then return end
close(id, 'done', ARGV[4])
for _, field in ipairs(redis.call('HKEYS', item(id))) do
  if string.sub(field, 1, 2) == 'e:' then redis.call('HDEL', item(id), field) end
end
redis.call('ZADD', S .. ':done', ARGV[4], id)
