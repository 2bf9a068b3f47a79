-- Presence script `heartbeat` (see src/cluster/redis_presence.rs for its ARGV and reply).
-- Writes the heartbeat; 1 when the node was not registered (new, reaped, or Redis lost
-- its data), so the caller writes its sockets back.
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', ARGV[1]..'nodes', ms, ARGV[2])
