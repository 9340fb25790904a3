-- put: store a verified event. ARGV: 3 key, 4 retention (ms), 5 body, 6 event type,
-- 7 resource id, 8 delivery id, 9 signed at, 10 now, 11 context (JSON, or '' for none:
-- the field is then left out, as in events stored before it existed). Returns 1, or 0
-- for a key stored already. The script runs alone: the check and the store are one step.
if not redis.call('SET', S .. ':key:' .. ARGV[3], '0', 'NX', 'PX', ARGV[4]) then return 0 end
local id = tostring(redis.call('INCR', S .. ':seq'))
redis.call('SET', S .. ':key:' .. ARGV[3], id, 'KEEPTTL')
redis.call('HSET', item(id), 'id', id, 'key', ARGV[3], 'body', ARGV[5], 'event_type', ARGV[6],
  'resource_id', ARGV[7], 'delivery_id', ARGV[8], 'signed_at', ARGV[9], 'received_at', ARGV[10],
  'status', 'pending', 'attempts', '0', 'next_attempt_at', ARGV[10], 'lease_owner', '',
  'lease_until', '0', 'finished_at', '', 'entry', '', 'dead_entry', '', 'active', '0')
if ARGV[11] and ARGV[11] ~= '' then redis.call('HSET', item(id), 'context', ARGV[11]) end
redis.call('ZADD', S .. ':items', id, id)
redis.call('ZADD', S .. ':pending', id, id)
if ORDERED then redis.call('ZADD', S .. ':resource:' .. ARGV[7], id, id) end
activate(id)
return 1
