-- Presence script `reap_list` (see src/cluster/redis_presence.rs for its ARGV and reply).
-- Takes the reaper lock and lists nodes whose heartbeat is stale (not the caller).
local kp = ARGV[1]
if not redis.call('SET', kp..'reaper', ARGV[2], 'NX', 'PX', ARGV[4]) then return {} end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', kp..'nodes', '-inf', ms - tonumber(ARGV[3]))) do
  if node ~= ARGV[2] then table.insert(out, node) end
end
return out
