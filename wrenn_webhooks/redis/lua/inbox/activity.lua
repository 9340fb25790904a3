-- activity: arrival times, newest first, and items done per bucket of time. ARGV: 3 read
-- the items below this id ('+inf' first, then '(' and the id read last), 4 how many,
-- 5 start of the first bucket, 6 its width (seconds), 7 buckets (0: none).
-- Returns where to read from next ('' at the end), the arrival time of each item read
-- ('' if garbled), and the count of items done in each bucket.
local ids = redis.call('ZREVRANGEBYSCORE', S .. ':items', ARGV[3], '-inf', 'LIMIT', 0, ARGV[4])
local received = {}
for i, id in ipairs(ids) do
  local at = redis.call('HGET', item(id), 'received_at')
  received[i] = at and is_number(at) and at or ''
end
local done, start, width = {}, tonumber(ARGV[5]), tonumber(ARGV[6])
for i = 1, tonumber(ARGV[7]) do
  local low = start + (i - 1) * width
  done[i] = redis.call('ZCOUNT', S .. ':done', low, '(' .. (low + width))
end
local after = #ids < tonumber(ARGV[4]) and '' or '(' .. ids[#ids]
return {after, received, done}
