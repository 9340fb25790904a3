-- claim: lease due events to a worker. ARGV: 3 worker, 4 now, 5 lease until,
-- 6 lease (ms), 7 limit, 8 retries, 9 message, 10 batch of due retries to put back
-- on the stream. Returns the hash (HGETALL) of each claimed item.
local worker, limit, retries = ARGV[3], tonumber(ARGV[7]), tonumber(ARGV[8])
redis.pcall('XGROUP', 'CREATE', S, GROUP, '0', 'MKSTREAM')  -- after the first time: BUSYGROUP
local due = redis.call('ZRANGEBYSCORE', S .. ':retry', '-inf', ARGV[4], 'LIMIT', 0, ARGV[10])
for _, id in ipairs(due) do
  redis.call('ZREM', S .. ':retry', id)
  enqueue(id)
end
local claimed = {}
local function take(entries, expired)
  for _, entry in ipairs(entries) do
    local id = type(entry[2]) == 'table' and entry[2][2]
    local status, current, attempts
    if id then
      status, current, attempts =
        unpack(redis.call('HMGET', item(id), 'status', 'entry', 'attempts'))
    end
    if status ~= 'pending' or current ~= entry[1] then  -- a leftover of an event since moved on
      redis.call('XACK', S, GROUP, entry[1])
      redis.call('XDEL', S, entry[1])
    elseif expired and tonumber(attempts) >= retries then  -- its worker died on every attempt
      redis.call('HINCRBY', item(id), 'attempts', 1)
      redis.call('HSET', item(id), 'e:(worker)', ARGV[9])
      close(id, 'dead', ARGV[4])
    else
      if expired then  -- the attempt of a worker that died counts
        redis.call('HINCRBY', item(id), 'attempts', 1)
        redis.call('ZADD', S .. ':failed', id, id)
      end
      redis.call('HSET', item(id), 'lease_owner', worker, 'lease_until', ARGV[5])
      redis.call('ZADD', S .. ':leases', ARGV[5], id)
      table.insert(claimed, id)
    end
  end
end
take(redis.call('XAUTOCLAIM', S, GROUP, worker, ARGV[6], '0-0', 'COUNT', limit)[2], true)
if #claimed < limit then
  local read = redis.call('XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', limit - #claimed,
    'STREAMS', S, '>')
  if read then take(read[1][2], false) end
end
local items = {}
for _, id in ipairs(claimed) do table.insert(items, redis.call('HGETALL', item(id))) end
return items
