-- Presence script `leave`: takes a socket out of a room.
-- KEYS: room hash, agent's sockets in the room, agent's rooms, node record.
-- ARGV: agent, room, sid, socket record.
-- Returns 1 when it was the agent's last socket in the room.
local r, rs, agent_rooms, node = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local agent, room, sid = ARGV[1], ARGV[2], ARGV[3]
redis.call('HSET', node, sid, ARGV[4])
if redis.call('SREM', rs, sid) == 0 or redis.call('SCARD', rs) > 0 then return 0 end
redis.call('HDEL', r, agent)
redis.call('SREM', agent_rooms, room)
return 1
