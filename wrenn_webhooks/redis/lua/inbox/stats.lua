-- stats: counts. ARGV: 3 now. Returns pending, done, dead, failed, in flight,
-- and the arrival time of the oldest pending item (false if none, or garbled).
local oldest = redis.call('ZRANGE', S .. ':pending', 0, 0)[1]
local received = oldest and redis.call('HGET', item(oldest), 'received_at')
return {
  redis.call('ZCARD', S .. ':pending'), redis.call('ZCARD', S .. ':done'),
  redis.call('XLEN', S .. ':dead'), redis.call('ZCARD', S .. ':failed'),
  redis.call('ZCOUNT', S .. ':leases', '(' .. ARGV[3], '+inf'),
  received and is_number(received) and received or false,
}
