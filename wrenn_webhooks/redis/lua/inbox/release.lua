-- release: give a claimed item back, due at once. ARGV: 3 id.
local id = ARGV[3]
local status, entry = unpack(redis.call('HMGET', item(id), 'status', 'entry'))
if status ~= 'pending' or not entry or entry == '' then return end
settle(id)
enqueue(id)
