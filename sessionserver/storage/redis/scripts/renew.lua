-- KEYS: lock.  ARGV: token, ms.  -> 1 extended, 0 not held by token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
