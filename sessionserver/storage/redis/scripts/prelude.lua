-- What every session script starts with: its ARGV begins with now, ttl, maxlife, and these
-- helpers read a session's meta fields the same way everywhere.
local now, ttl, maxlife = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
-- Arguments per call of a command over many fields (Lua's unpack() has a stack limit).
local STEP = 1000
-- The deadline of a session from its meta fields.
local function deadline(c, a, t)
  local d = tonumber(a) + tonumber(t or ttl)
  if maxlife > 0 then
    local e = tonumber(c) + maxlife
    if e < d then d = e end
  end
  return d
end
local function expire(key, d)
  redis.call('PEXPIRE', key, math.max(1, math.ceil((d - now) * 1000)))
end
-- redis.call(command, key, ...) over fields, STEP at a time (an even STEP keeps HSET's pairs).
local function batched(command, key, fields)
  for i = 1, #fields, STEP do
    redis.call(command, key, unpack(fields, i, math.min(i + STEP - 1, #fields)))
  end
end
-- The meta fields {c, a, t, u} of the live session at key; nil if absent or expired (an
-- expired one is deleted on the way).
local function live(key)
  local m = redis.call('HMGET', key, ' c', ' a', ' t', ' u')
  if not m[2] then return nil end
  if deadline(m[1], m[2], m[3]) <= now then
    redis.call('DEL', key)
    return nil
  end
  return m
end
-- The live session at key as its meta fields by name and its flat pairs; nil as for live().
local function read(key)
  local h = redis.call('HGETALL', key)
  if #h == 0 then return nil end
  local meta, out = {}, {}
  for i = 1, #h, 2 do
    local f = h[i]
    if string.byte(f, 1) == 32 then meta[f] = h[i + 1] else
      out[#out + 1] = f
      out[#out + 1] = h[i + 1]
    end
  end
  if deadline(meta[' c'], meta[' a'], meta[' t']) <= now then
    redis.call('DEL', key)
    return nil
  end
  return meta, out
end
-- An access: the last-access time and the TTL move, the pairs stay; the new deadline.
local function touch(key, c, t)
  redis.call('HSET', key, ' a', ARGV[1])
  local d = deadline(c, ARGV[1], t)
  expire(key, d)
  return d
end
