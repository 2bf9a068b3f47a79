-- Presence script `leave` (see src/cluster/redis_presence.rs for its ARGV and reply).
-- Returns 1 when it was the agent's last socket in the room.
local kp, agent, room, sid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local r = kp..'r:'..room
local rs = r..':'..agent
redis.call('HSET', kp..'n:'..ARGV[5], sid, ARGV[6])
if redis.call('SREM', rs, sid) == 0 or redis.call('SCARD', rs) > 0 then return 0 end
redis.call('HDEL', r, agent)
redis.call('SREM', kp..'a:'..agent..':r', room)
return 1
