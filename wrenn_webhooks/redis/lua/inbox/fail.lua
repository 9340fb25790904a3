-- fail: end a failed attempt. ARGV: 3 id, 4 now, 5 final, 6 number of errors n,
-- then n (handler, error) pairs, then the retry delays.
local id, n = ARGV[3], tonumber(ARGV[6])
if redis.call('HGET', item(id), 'status') ~= 'pending' then return end
settle(id)
local attempts = redis.call('HINCRBY', item(id), 'attempts', 1)
for i = 7, 5 + 2 * n, 2 do
  if redis.call('HEXISTS', item(id), 'c:' .. ARGV[i]) == 0 then
    redis.call('HSET', item(id), 'e:' .. ARGV[i], ARGV[i + 1])
  end
end
local delay = ARGV[6 + 2 * n + attempts]
if ARGV[5] == '1' or not delay then
  close(id, 'dead', ARGV[4])
else
  local due = tonumber(ARGV[4]) + tonumber(delay)
  redis.call('HSET', item(id), 'next_attempt_at', due)
  redis.call('ZADD', S .. ':retry', due, id)
  redis.call('ZADD', S .. ':failed', id, id)
end
