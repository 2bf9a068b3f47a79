-- Presence script `disconnect` (see src/cluster/redis_presence.rs for its ARGV and reply).
-- Returns the rooms the agent left entirely.
local kp, agent, sid = ARGV[1], ARGV[2], ARGV[3]
local a = kp..'a:'..agent
local left = {}
for i = 5, #ARGV do
  local room = ARGV[i]
  local r = kp..'r:'..room
  local rs = r..':'..agent
  if redis.call('SREM', rs, sid) == 1 and redis.call('SCARD', rs) == 0 then
    redis.call('HDEL', r, agent)
    redis.call('SREM', a..':r', room)
    table.insert(left, room)
  end
end
redis.call('SREM', a..':s', sid)
if redis.call('SCARD', a..':s') == 0 then redis.call('DEL', a, a..':r') end
redis.call('HDEL', kp..'n:'..ARGV[4], sid)
return left
