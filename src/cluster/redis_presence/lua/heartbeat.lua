-- Presence script `heartbeat`: writes the node's heartbeat (Redis time, ms).
-- KEYS: the nodes sorted set.  ARGV: node.
-- Returns 1 when the node was not registered (new, reaped, or Redis lost its data), so the
-- caller writes its sockets back.
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], ms, ARGV[1])
