-- KEYS: session.  ARGV: now, ttl, maxlife.
-- -> false, or {flat fields including the meta fields, seconds left}
local m = live(KEYS[1])
if not m then return false end
return {redis.call('HGETALL', KEYS[1]), tostring(deadline(m[1], m[2], m[3]) - now)}
