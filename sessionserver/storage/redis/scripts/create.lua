-- KEYS: session.  ARGV: now, ttl, maxlife, user ('' for none), own idle lifetime ('' for the
-- default), pairs...  -> 1 or 0
if live(KEYS[1]) then return 0 end
local fields = {' c', ARGV[1], ' a', ARGV[1]}
local own = nil
if ARGV[5] ~= '' then
  own = ARGV[5]
  fields[#fields + 1] = ' t'
  fields[#fields + 1] = own
end
if ARGV[4] ~= '' then
  fields[#fields + 1] = ' u'
  fields[#fields + 1] = ARGV[4]
end
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
batched('HSET', KEYS[1], fields)
expire(KEYS[1], deadline(ARGV[1], ARGV[1], own))
return 1
