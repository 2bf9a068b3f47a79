-- Presence script `evict` (see src/cluster/redis_presence.rs for its ARGV and reply).
-- Takes an agent out of a room with all its sockets, on every node at once (a removal from a
-- private room). Returns 1 when the agent was in the room. The nodes' own records keep the
-- room until their sockets leave it; leaving or reaping it later changes nothing more.
local kp, agent, room = ARGV[1], ARGV[2], ARGV[3]
local r = kp..'r:'..room
if redis.call('HEXISTS', r, agent) == 0 then return 0 end
redis.call('HDEL', r, agent)
redis.call('DEL', r..':'..agent)
redis.call('SREM', kp..'a:'..agent..':r', room)
return 1
