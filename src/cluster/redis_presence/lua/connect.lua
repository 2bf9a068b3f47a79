-- Presence script `connect`: registers a socket of an agent unless the agent already has
-- `max` sockets (cluster-wide). Returns 1 when admitted, 0 when refused.
-- KEYS: agent hash, agent's sockets, node record.
-- ARGV: sid, max, name, display name, now, socket record.
local a, sockets, node = KEYS[1], KEYS[2], KEYS[3]
local sid = ARGV[1]
local n = redis.call('SCARD', sockets)
if redis.call('SISMEMBER', sockets, sid) == 0 and n >= tonumber(ARGV[2]) then return 0 end
if n == 0 then
  redis.call('DEL', a)
  redis.call('HSET', a, 'status', 'online', 'since', ARGV[5])
end
redis.call('HSET', a, 'name', ARGV[3], 'dn', ARGV[4])
redis.call('SADD', sockets, sid)
redis.call('HSET', node, sid, ARGV[6])
return 1
