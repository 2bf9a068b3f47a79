-- Presence script `set_status` (see src/cluster/redis_presence.rs for its ARGV and reply).
-- Returns `{}` when the agent has no socket, else `{since, connections, [room,
-- connections, since]…}`.
local kp, agent = ARGV[1], ARGV[2]
local a = kp..'a:'..agent
if redis.call('SCARD', a..':s') == 0 then return {} end
redis.call('HSET', a, 'status', ARGV[3])
if ARGV[4] == '1' then redis.call('HSET', a, 'note', ARGV[5]) else redis.call('HDEL', a, 'note') end
local out = {redis.call('HGET', a, 'since') or ARGV[6], tostring(redis.call('SCARD', a..':s'))}
for _, room in ipairs(redis.call('SMEMBERS', a..':r')) do
  local c = redis.call('SCARD', kp..'r:'..room..':'..agent)
  if c > 0 then
    table.insert(out, room)
    table.insert(out, tostring(c))
    table.insert(out, redis.call('HGET', kp..'r:'..room, agent) or ARGV[6])
  end
end
return out
