-- finish: end the lease on a key and mark it done.
-- KEYS[1] the record; ARGV: 1 expires, 2 ttl (ms).
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'lease_until', '0', 'done', '1', 'expires', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
