-- KEYS: session.  ARGV: now, ttl, maxlife.  -> {1, user} deleted, {0} absent or expired
local m = live(KEYS[1])
if not m then return {0} end
redis.call('DEL', KEYS[1])
return {1, m[4] or ''}
