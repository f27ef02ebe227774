-- KEYS: session.  ARGV: now, ttl, maxlife, new ttl.  -> 1 or 0
local m = live(KEYS[1])
if not m then return 0 end
redis.call('HSET', KEYS[1], ' t', ARGV[4])
touch(KEYS[1], m[1], ARGV[4])
return 1
