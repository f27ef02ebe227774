-- KEYS: session.  ARGV: now, ttl, maxlife, idle (-1: only expiry), user ('': any)
-- -> 1 live (and naming user, when asked), 0 not
local m = live(KEYS[1])
if not m then return 0 end
if ARGV[5] ~= '' and m[4] ~= ARGV[5] then return 0 end
return 1
