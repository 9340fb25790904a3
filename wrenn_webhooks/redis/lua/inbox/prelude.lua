-- The start of every inbox script. KEYS[1] is the stream; ARGV[1] the group; ARGV[2]
-- "1" or "0" for an inbox that puts or claims (the stream remembers its first
-- answer and refuses another), "" for the operators' commands (use the stream's).
--
-- Keys next to the stream S: S:seq (last id), S:key:<sha256> (deduplication),
-- S:item:<id> (one event: its fields, "c:<handler>" per completed handler and
-- "e:<handler>" per last error), sorted sets of ids S:items, S:pending, S:failed,
-- S:done (by finish time), S:retry (by due time) and S:leases (by lease end), the
-- dead-letter stream S:dead, and with ordering S:resource:<id> per resource. They all
-- start with S, so a hash tag in S (the default "{wrenn:inbox}") puts them in the Redis
-- Cluster slot of KEYS[1], the one slot a script may use.
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

-- The fields of an event's hash: the kind of value each holds, and what replaces a
-- missing or garbled one when the event is dead-lettered as damaged. Every kind is
-- at most as loose as what Python reads (RedisInbox._item_from_hash).
local FIELDS = {
  {'id', 'id', ''}, {'key', 'text', ''}, {'body', 'text', ''}, {'event_type', 'text', ''},
  {'resource_id', 'text', ''}, {'delivery_id', 'text', ''}, {'signed_at', 'number', '0'},
  {'received_at', 'number', '0'}, {'status', 'status', 'pending'}, {'attempts', 'count', '0'},
  {'next_attempt_at', 'number', '0'}, {'lease_owner', 'text', ''},
  {'lease_until', 'number', '0'}, {'finished_at', 'time', ''}, {'entry', 'entry', ''},
  {'dead_entry', 'entry', ''}, {'active', 'flag', '0'},
}
local NAMES = {}
for i, field in ipairs(FIELDS) do NAMES[i] = field[1] end

local function is_number(value)
  return string.find(value, '^%-?%d+%.?%d*$') ~= nil
    or string.find(value, '^%-?%d+%.?%d*[eE][%+%-]?%d+$') ~= nil
end
local function is_entry(value)
  return value == '' or string.find(value, '^%d+%-%d+$') ~= nil
end
local VALID = {
  id = function(value, id) return value == id end,
  text = function() return true end,
  number = is_number,
  count = function(value) return #value <= 15 and string.find(value, '^%d+$') ~= nil end,
  time = function(value) return value == '' or is_number(value) end,
  status = function(value) return value == 'pending' or value == 'done' or value == 'dead' end,
  entry = is_entry,
  flag = function(value) return value == '0' or value == '1' end,
}
local GONE = 'the event is gone from Redis: its hash was deleted or evicted'

-- The fields of an item by name (false where missing); nil if it has no hash, with
-- what is wrong if its key holds something else.
local function read(id)
  local values = redis.pcall('HMGET', item(id), unpack(NAMES))
  if values.err then
    return nil, 'damaged in Redis: its key holds a ' .. redis.call('TYPE', item(id)).ok ..
      ', not a hash'
  end
  local fields, found = {}, false
  for i, name in ipairs(NAMES) do
    fields[name] = values[i]
    found = found or values[i] ~= false
  end
  if found or redis.call('EXISTS', item(id)) == 1 then return fields end
end

-- What is wrong with the fields of an item, or nil if nothing.
local function damage(id, fields)
  local wrong = {}
  for _, field in ipairs(FIELDS) do
    local name, value = field[1], fields[field[1]]
    if not value then
      table.insert(wrong, name .. ' is missing')
    elseif not VALID[field[2]](value, id) then
      local shown = string.sub(value, 1, 40) .. (#value > 40 and '...' or '')
      table.insert(wrong, name .. " is '" .. shown .. "'")
    end
  end
  if #wrong > 0 then return 'damaged in Redis: ' .. table.concat(wrong, ', ') end
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

-- Dead-letter a damaged item, claimed through stream entry `entry`: put back what the
-- inbox needs to list, show and retry it, and give the damage as its error "(inbox)".
-- (With ordering, an item that lost its resource_id cannot let its resource go on.)
local function bury(id, reason, entry, now)
  if redis.call('TYPE', item(id)).ok ~= 'hash' then redis.call('DEL', item(id)) end
  local fields = read(id) or {}
  for _, field in ipairs(FIELDS) do
    local name, value = field[1], fields[field[1]]
    if not value or not VALID[field[2]](value, id) then
      redis.call('HSET', item(id), name, name == 'id' and id or field[3])
    end
  end
  redis.call('HSET', item(id), 'entry', entry, 'e:(inbox)', reason)
  close(id, 'dead', now)
end
