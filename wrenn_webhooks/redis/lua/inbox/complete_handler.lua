-- complete_handler: record a completed handler and renew the lease.
-- ARGV: 3 id, 4 handler, 5 lease until.
local id = ARGV[3]
if redis.call('EXISTS', item(id)) == 0 then return end
redis.call('HSET', item(id), 'c:' .. ARGV[4], '1')
redis.call('HDEL', item(id), 'e:' .. ARGV[4])
local entry, lease_until, owner =
  unpack(redis.call('HMGET', item(id), 'entry', 'lease_until', 'lease_owner'))
if tonumber(lease_until) > 0 then
  if tonumber(ARGV[5]) > tonumber(lease_until) then
    redis.call('HSET', item(id), 'lease_until', ARGV[5])
    redis.call('ZADD', S .. ':leases', ARGV[5], id)
  end
  -- Claiming its own entry again resets its idle time: the lease starts over.
  if entry ~= '' then redis.call('XCLAIM', S, GROUP, owner, 0, entry, 'JUSTID') end
end
