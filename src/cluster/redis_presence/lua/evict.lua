-- Presence script `evict`: takes an agent out of a room with all its sockets, on every node
-- at once (a removal from a private room). The nodes' own records keep the room until their
-- sockets leave it; leaving or reaping it later changes nothing more.
-- KEYS: room hash, agent's sockets in the room, agent's rooms.
-- ARGV: agent, room.
-- Returns 1 when the agent was in the room.
local r, rs, agent_rooms = KEYS[1], KEYS[2], KEYS[3]
local agent, room = ARGV[1], ARGV[2]
if redis.call('HEXISTS', r, agent) == 0 then return 0 end
redis.call('HDEL', r, agent)
redis.call('DEL', rs)
redis.call('SREM', agent_rooms, room)
return 1
