-- KEYS: session, lock.  ARGV: now, ttl, maxlife, token, lease ms.
-- -> 0 the lock is taken; 1 locked, the session absent; 2 locked, the session live (an access:
-- its deadline moved).  The pairs are read by the HGETALL sent right after it.
if not redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', ARGV[5]) then return 0 end
local m = live(KEYS[1])
if not m then return 1 end
touch(KEYS[1], m[1], m[3])
return 2
