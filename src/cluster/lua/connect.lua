-- Presence script `connect` (see src/cluster/redis_presence.rs for its ARGV and reply).
local kp, agent, sid = ARGV[1], ARGV[2], ARGV[3]
local a = kp..'a:'..agent
local n = redis.call('SCARD', a..':s')
if redis.call('SISMEMBER', a..':s', sid) == 0 and n >= tonumber(ARGV[4]) then return 0 end
if n == 0 then
  redis.call('DEL', a)
  redis.call('HSET', a, 'status', 'online', 'since', ARGV[7])
end
redis.call('HSET', a, 'name', ARGV[5], 'dn', ARGV[6])
redis.call('SADD', a..':s', sid)
redis.call('HSET', kp..'n:'..ARGV[8], sid, ARGV[9])
return 1
