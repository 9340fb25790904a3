-- claim: lease due events to a worker. ARGV: 3 worker, 4 now, 5 lease until,
-- 6 lease (ms), 7 limit, 8 retries, 9 message, 10 batch of due retries to put back
-- on the stream. Returns the hash (HGETALL) of each claimed item. A damaged item
-- (a field missing or garbled, or its hash gone) is dead-lettered instead.
local worker, limit, retries = ARGV[3], tonumber(ARGV[7]), tonumber(ARGV[8])
redis.pcall('XGROUP', 'CREATE', S, GROUP, '0', 'MKSTREAM')  -- after the first time: BUSYGROUP
local due = redis.call('ZRANGEBYSCORE', S .. ':retry', '-inf', ARGV[4], 'LIMIT', 0, ARGV[10])
for _, id in ipairs(due) do
  redis.call('ZREM', S .. ':retry', id)
  enqueue(id)
end
local claimed = {}
local function drop(entry)  -- a leftover, or not an event's entry at all
  redis.call('XACK', S, GROUP, entry)
  redis.call('XDEL', S, entry)
end
local function take(entries, expired)
  for _, entry in ipairs(entries) do
    local fields = type(entry[2]) == 'table' and entry[2]
    local id = fields and fields[1] == 'id' and fields[2]
    local item_fields, wrong_type
    if id then item_fields, wrong_type = read(id) end
    local status = item_fields and item_fields.status
    if not item_fields then  -- no such item, or one whose hash vanished
      if id and redis.call('ZSCORE', S .. ':items', id) then
        bury(id, wrong_type or GONE, entry[1], ARGV[4])
      else
        drop(entry[1])
      end
    elseif status == 'done' or status == 'dead'
        or status == 'pending' and item_fields.entry and is_entry(item_fields.entry)
          and item_fields.entry ~= entry[1] then  -- a leftover of an event since moved on
      drop(entry[1])
    else
      local wrong = damage(id, item_fields)
      if wrong then  -- dead-lettered alone: the rest of the batch goes on
        bury(id, wrong, entry[1], ARGV[4])
      elseif expired and tonumber(item_fields.attempts) >= retries then
        -- its worker died on every attempt
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
end
take(redis.call('XAUTOCLAIM', S, GROUP, worker, ARGV[6], '0-0', 'COUNT', limit)[2], true)
if #claimed < limit then
  local new = redis.call('XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', limit - #claimed,
    'STREAMS', S, '>')
  if new then take(new[1][2], false) end
end
local items = {}
for _, id in ipairs(claimed) do table.insert(items, redis.call('HGETALL', item(id))) end
return items
