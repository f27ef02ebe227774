-- KEYS: session.  ARGV: now, ttl, maxlife, touch (1/0).
-- -> false, or {flat pairs, seconds left}
local meta, out = read(KEYS[1])
if not meta then return false end
local d = deadline(meta[' c'], meta[' a'], meta[' t'])
if ARGV[4] == '1' then d = touch(KEYS[1], meta[' c'], meta[' t']) end
return {out, tostring(d - now)}
