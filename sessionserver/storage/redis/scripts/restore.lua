-- KEYS: session.  ARGV: now, ttl, maxlife, ms to live, fields...  -> 1 created, 0 taken
if live(KEYS[1]) then return 0 end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
batched('HSET', KEYS[1], fields)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
