-- purge: delete done items. ARGV: 3 finished before, 4 batch, 5 idle consumer (ms)
-- or "". Returns how many went.
local ids = redis.call('ZRANGEBYSCORE', S .. ':done', '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
for _, id in ipairs(ids) do
  local key = redis.call('HGET', item(id), 'key')
  if key and redis.call('GET', S .. ':key:' .. key) == id then
    redis.call('DEL', S .. ':key:' .. key)
  end
  redis.call('DEL', item(id))
  redis.call('ZREM', S .. ':done', id)
  redis.call('ZREM', S .. ':items', id)
end
-- Forget workers long gone (each process has its own name), never one with entries.
if ARGV[5] ~= '' and redis.call('EXISTS', S) == 1 then
  local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', S, GROUP)
  for _, consumer in ipairs(ok and consumers or {}) do
    local info = {}
    for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
    if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[5]) then
      redis.call('XGROUP', 'DELCONSUMER', S, GROUP, info['name'])
    end
  end
end
return #ids
