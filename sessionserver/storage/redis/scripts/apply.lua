-- KEYS: session, lock.  ARGV: now, ttl, maxlife, token ('' none), max keys, max size, new
-- idle lifetime ('' to keep it), number of user keys, user keys..., number of changed pairs,
-- pairs..., removed keys...
-- -> {1, old user, new user} applied; {0} absent or expired; {-2} locked; {-3} too many keys;
--    {-4} too large
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[4] then return {-2} end
local meta, flat = read(KEYS[1])
if not meta then return {0} end
local cur = {}
for j = 1, #flat, 2 do cur[flat[j]] = flat[j + 1] end
local i = 8
local nuser = tonumber(ARGV[i])
local ukeys = {}
for j = 1, nuser do ukeys[j] = ARGV[i + j] end
i = i + nuser + 1
local npairs = tonumber(ARGV[i])
local set, gone = {}, {}
for j = 1, npairs do
  local k, v = ARGV[i + 2 * j - 1], ARGV[i + 2 * j]
  cur[k] = v
  set[#set + 1] = k
  set[#set + 1] = v
end
for j = i + 2 * npairs + 1, #ARGV do
  if cur[ARGV[j]] then
    cur[ARGV[j]] = nil
    gone[#gone + 1] = ARGV[j]
  end
end
local count, size = 0, 0
for k, v in pairs(cur) do
  count = count + 1
  size = size + #k + #v
end
if count > tonumber(ARGV[5]) then return {-3} end
if size > tonumber(ARGV[6]) then return {-4} end
local user = ''
for j = 1, #ukeys do
  local v = cur[ukeys[j]]
  if v then
    if #v >= 2 and string.sub(v, 1, 1) == '"' and string.sub(v, -1) == '"' then
      v = string.sub(v, 2, -2)
    end
    user = v
    break
  end
end
if #gone > 0 then batched('HDEL', KEYS[1], gone) end
if #set > 0 then batched('HSET', KEYS[1], set) end
if user ~= '' then
  redis.call('HSET', KEYS[1], ' u', user)
else
  redis.call('HDEL', KEYS[1], ' u')
end
local t = meta[' t']
if ARGV[7] ~= '' then
  t = ARGV[7]
  redis.call('HSET', KEYS[1], ' t', t)
end
touch(KEYS[1], meta[' c'], t)
return {1, meta[' u'] or '', user}
