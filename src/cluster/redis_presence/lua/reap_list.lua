-- Presence script `reap_list`: takes the reaper lock and lists the nodes whose heartbeat is
-- stale (not the caller's).
-- KEYS: reaper lock, nodes sorted set.  ARGV: node, stale after (ms), lock for (ms).
-- Returns the stale nodes; none when another node holds the lock.
local lock, nodes = KEYS[1], KEYS[2]
if not redis.call('SET', lock, ARGV[1], 'NX', 'PX', ARGV[3]) then return {} end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', nodes, '-inf', ms - tonumber(ARGV[2]))) do
  if node ~= ARGV[1] then table.insert(out, node) end
end
return out
