-- KEYS: session.  ARGV: now, ttl, maxlife.
-- An access: -> 1 live (its deadline moved), 0 absent or expired.  The pairs are read by the
-- HGETALL sent right after it (plain, so that they never pass through Lua).
local m = live(KEYS[1])
if not m then return 0 end
touch(KEYS[1], m[1], m[3])
return 1
