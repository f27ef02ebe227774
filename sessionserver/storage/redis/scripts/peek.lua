-- KEYS: session.  ARGV: now, ttl, maxlife.
-- -> false, or {flat pairs, seconds left}; not an access (the deadline stays)
local meta, out = read(KEYS[1])
if not meta then return false end
return {out, tostring(deadline(meta[' c'], meta[' a'], meta[' t']) - now)}
