-- The start of every inbox script. KEYS[1] is the stream; ARGV[1] the group; ARGV[2]
-- "1" or "0" for an inbox that puts or claims (the stream remembers its first
-- answer and refuses another), "" for the operators' commands (use the stream's).
--
-- Keys next to the stream S: S:seq (last id), S:key:<sha256> (deduplication),
-- S:item:<id> (one event: its fields, "c:<handler>" per completed handler and
-- "e:<handler>" per last error), sorted sets of ids S:items, S:pending, S:failed,
-- S:done (by finish time), S:retry (by due time) and S:leases (by lease end), the
-- dead-letter stream S:dead, and with ordering S:resource:<id> per resource.
local S, GROUP = KEYS[1], ARGV[1]
local mode = redis.call('GET', S .. ':ordered')
if ARGV[2] ~= '' then
  if not mode then
    mode = ARGV[2]
    redis.call('SET', S .. ':ordered', mode)
  elseif mode ~= ARGV[2] then
    return redis.error_reply('inbox stream ' .. S .. ' has ordered=' .. tostring(mode == '1') ..
      ': give every RedisInbox on it the same ordered')
  end
end
local ORDERED = mode == '1'

local function item(id) return S .. ':item:' .. id end

-- Due now: the next XREADGROUP of any worker gets it.
local function enqueue(id)
  redis.call('HSET', item(id), 'entry', redis.call('XADD', S, '*', 'id', id))
end

-- Let workers see a pending item; with ordering, only the oldest of its resource.
local function activate(id)
  if ORDERED then
    local resource = S .. ':resource:' .. redis.call('HGET', item(id), 'resource_id')
    if redis.call('ZRANGE', resource, 0, 0)[1] ~= id then return end
  end
  redis.call('HSET', item(id), 'active', '1')
  enqueue(id)
end

-- End the current delivery: acknowledged, off the stream, not leased.
local function settle(id)
  local entry = redis.call('HGET', item(id), 'entry')
  if entry and entry ~= '' then
    redis.call('XACK', S, GROUP, entry)
    redis.call('XDEL', S, entry)
  end
  redis.call('HSET', item(id), 'entry', '', 'lease_until', '0')
  redis.call('ZREM', S .. ':leases', id)
end

-- Done or dead: out of the pending indexes, and the next event of its resource may go.
local function close(id, status, now)
  settle(id)
  local dead = redis.call('HGET', item(id), 'dead_entry')
  if dead and dead ~= '' then redis.call('XDEL', S .. ':dead', dead) end
  redis.call('HSET', item(id), 'status', status, 'finished_at', now, 'active', '0',
    'dead_entry', '')
  for _, index in ipairs({':pending', ':failed', ':retry'}) do
    redis.call('ZREM', S .. index, id)
  end
  if status == 'dead' then
    redis.call('HSET', item(id), 'dead_entry', redis.call('XADD', S .. ':dead', '*', 'id', id))
  end
  if ORDERED then
    local resource = S .. ':resource:' .. redis.call('HGET', item(id), 'resource_id')
    redis.call('ZREM', resource, id)
    local head = redis.call('ZRANGE', resource, 0, 0)[1]
    if head and redis.call('HGET', item(head), 'active') ~= '1' then activate(head) end
  end
end

-- Make a pending item due now, or a dead one pending again; false for anything else.
local function revive(id)
  local status, attempts = unpack(redis.call('HMGET', item(id), 'status', 'attempts'))
  if status == 'pending' then
    redis.call('HSET', item(id), 'next_attempt_at', '0')
    if redis.call('ZREM', S .. ':retry', id) == 1 then enqueue(id) end
    return true
  elseif status ~= 'dead' then
    return false
  end
  redis.call('XDEL', S .. ':dead', redis.call('HGET', item(id), 'dead_entry'))
  redis.call('HSET', item(id), 'status', 'pending', 'finished_at', '', 'dead_entry', '',
    'next_attempt_at', '0')
  redis.call('ZADD', S .. ':pending', id, id)
  if tonumber(attempts) > 0 then redis.call('ZADD', S .. ':failed', id, id) end
  if ORDERED then
    redis.call('ZADD', S .. ':resource:' .. redis.call('HGET', item(id), 'resource_id'), id, id)
  end
  activate(id)
  return true
end
