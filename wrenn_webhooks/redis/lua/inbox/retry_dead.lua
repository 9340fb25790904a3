-- retry_dead: make the oldest dead items due now. ARGV: 3 limit.
-- Returns {retried, entries read}.
local retried, entries = 0, redis.call('XRANGE', S .. ':dead', '-', '+', 'COUNT', ARGV[3])
for _, entry in ipairs(entries) do
  local id = entry[2][2]
  if redis.call('HGET', item(id), 'status') == 'dead' then
    revive(id)
    retried = retried + 1
  else
    redis.call('XDEL', S .. ':dead', entry[1])
  end
end
return {retried, #entries}
