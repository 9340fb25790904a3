-- list: the items of an index (items, pending, failed, done or dead), in its order, that
-- match every filter. ARGV: 3 index, 4 where to read from (a position in the sorted set;
-- for dead, '-' or '(' and the stream entry read last), 5 index entries to read at most,
-- 6 matches to return at most, 7... pairs of a field and the value it must hold.
-- Returns where to read from next ('' at the end of the index), then the hash (HGETALL)
-- of each match. Reading a bounded batch per call keeps each call short.
local from, count, want = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local entries = {}
if ARGV[3] == 'dead' then
  for _, entry in ipairs(redis.call('XRANGE', S .. ':dead', from, '+', 'COUNT', count)) do
    table.insert(entries, {entry[2][2], '(' .. entry[1]})
  end
else
  local first = tonumber(from)
  for i, id in ipairs(redis.call('ZRANGE', S .. ':' .. ARGV[3], first, first + count - 1)) do
    table.insert(entries, {id, first + i})
  end
end
local answer = {#entries < count and '' or entries[#entries][2]}
for _, entry in ipairs(entries) do
  local id, matches = entry[1], true
  for i = 7, #ARGV, 2 do
    matches = matches and redis.call('HGET', item(id), ARGV[i]) == ARGV[i + 1]
  end
  local fields = matches and redis.call('HGETALL', item(id)) or {}
  if #fields > 0 then
    table.insert(answer, fields)
    if #answer > want then
      answer[1] = entry[2]
      break
    end
  end
end
return answer
