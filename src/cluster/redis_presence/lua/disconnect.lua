-- Presence script `disconnect`: forgets a socket and its rooms.
-- KEYS: agent hash, agent's sockets, agent's rooms, node record, then for each room its hash
-- and the agent's sockets in it.
-- ARGV: agent, sid, then the rooms (in the order of their KEYS).
-- Returns the rooms the agent left entirely.
local a, sockets, agent_rooms, node = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local agent, sid = ARGV[1], ARGV[2]
local left = {}
for i = 3, #ARGV do
  local room = ARGV[i]
  local r, rs = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('SREM', rs, sid) == 1 and redis.call('SCARD', rs) == 0 then
    redis.call('HDEL', r, agent)
    redis.call('SREM', agent_rooms, room)
    table.insert(left, room)
  end
end
redis.call('SREM', sockets, sid)
if redis.call('SCARD', sockets) == 0 then redis.call('DEL', a, agent_rooms) end
redis.call('HDEL', node, sid)
return left
