-- claim: take a lease on a key unless one is held or the key is done.
-- KEYS[1] the record; ARGV: 1 now, 2 lease until, 3 expires, 4 ttl (ms).
-- Returns {state, completed handler...}.
local now = tonumber(ARGV[1])
local done, lease_until, expires =
  unpack(redis.call('HMGET', KEYS[1], 'done', 'lease_until', 'expires'))
local state = 'retry'
if not expires or tonumber(expires) <= now then
  redis.call('DEL', KEYS[1])
  state = 'new'
elseif done == '1' then
  state = 'done'
elseif tonumber(lease_until) > now then
  state = 'busy'
end
if state == 'new' or state == 'retry' then
  redis.call('HSET', KEYS[1], 'done', '0', 'lease_until', ARGV[2], 'expires', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local answer = {state}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 'c:' then table.insert(answer, string.sub(field, 3)) end
end
return answer
