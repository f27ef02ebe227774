-- KEYS: session.  ARGV: now, ttl, maxlife, idle.  -> {1, user} deleted as idle, {0} not
local m = live(KEYS[1])
if not m then return {0} end
if tonumber(m[2]) < now - tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[1])
  return {1, m[4] or ''}
end
return {0}
