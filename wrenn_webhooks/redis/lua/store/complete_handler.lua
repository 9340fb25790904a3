-- complete_handler: record that a handler completed for a key.
-- KEYS[1] the record; ARGV: 1 handler, 2 expires, 3 ttl (ms).
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], '1', 'expires', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
