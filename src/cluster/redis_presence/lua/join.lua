-- Presence script `join`: adds a socket to a room.
-- KEYS: agent hash, agent's rooms, room hash, agent's sockets in the room, node record.
-- ARGV: agent, room, sid, now, socket record.
-- Returns JSON {first, connections, since, status, note?} (replies.rs `Joined`).
local a, agent_rooms, r, rs, node = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local agent, room, sid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local first = false
if redis.call('SCARD', rs) == 0 then
  first = true
  redis.call('HSET', r, agent, now)
end
redis.call('SADD', rs, sid)
redis.call('SADD', agent_rooms, room)
redis.call('HSET', node, sid, ARGV[5])
local h = redis.call('HMGET', a, 'status', 'note')
return cjson.encode({
  first = first,
  connections = redis.call('SCARD', rs),
  since = redis.call('HGET', r, agent) or now,
  status = h[1] or 'online',
  note = h[2] or nil,
})
