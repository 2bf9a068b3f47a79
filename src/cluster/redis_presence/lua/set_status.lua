-- Presence script `set_status`: sets an agent's status and note.
-- KEYS: agent hash, agent's sockets, agent's rooms.
-- ARGV: key prefix (for the rooms' keys, in the same hash slot), agent, status, has note
-- ('1'/'0'), note, now.
-- Returns '' when the agent has no socket, else JSON {since, connections, rooms: [{room,
-- connections, since}]} (replies.rs `StatusSet`).
local a, sockets, agent_rooms = KEYS[1], KEYS[2], KEYS[3]
local kp, agent, now = ARGV[1], ARGV[2], ARGV[6]
if redis.call('SCARD', sockets) == 0 then return '' end
redis.call('HSET', a, 'status', ARGV[3])
if ARGV[4] == '1' then redis.call('HSET', a, 'note', ARGV[5]) else redis.call('HDEL', a, 'note') end
local rooms = {}
for _, room in ipairs(redis.call('SMEMBERS', agent_rooms)) do
  local r = kp..'r:'..room
  local c = redis.call('SCARD', r..':'..agent)
  if c > 0 then
    table.insert(rooms, {room = room, connections = c, since = redis.call('HGET', r, agent) or now})
  end
end
return cjson.encode({
  since = redis.call('HGET', a, 'since') or now,
  connections = redis.call('SCARD', sockets),
  rooms = rooms,
})
