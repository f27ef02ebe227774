-- KEYS: session, lock.  ARGV: now, ttl, maxlife, token, lease ms.
-- -> {0} the lock is taken; {1} locked, the session absent; {1, flat pairs} locked and loaded
if not redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', ARGV[5]) then return {0} end
local meta, out = read(KEYS[1])
if not meta then return {1} end
touch(KEYS[1], meta[' c'], meta[' t'])
return {1, out}
