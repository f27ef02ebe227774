-- KEYS: session, lock.  ARGV: now, ttl, maxlife, token ('' for none), user ('' for none),
-- new idle lifetime ('' to keep it), release (1: unlock after), pairs...
-- -> {1, old user} saved, {0} absent or expired, {-1} the lock changed hands
local held = ARGV[4] ~= ''
if held and redis.call('GET', KEYS[2]) ~= ARGV[4] then
  if live(KEYS[1]) then return {-1} end
  return {0}
end
local function done(result)
  if held and ARGV[7] == '1' then redis.call('DEL', KEYS[2]) end
  return result
end
local m = live(KEYS[1])
if not m then return done({0}) end
redis.call('DEL', KEYS[1])
local t = m[3]
if ARGV[6] ~= '' then t = ARGV[6] end
local fields = {' c', m[1], ' a', ARGV[1]}
if t then
  fields[#fields + 1] = ' t'
  fields[#fields + 1] = t
end
if ARGV[5] ~= '' then
  fields[#fields + 1] = ' u'
  fields[#fields + 1] = ARGV[5]
end
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
batched('HSET', KEYS[1], fields)
expire(KEYS[1], deadline(m[1], ARGV[1], t))
return done({1, m[4] or ''})
