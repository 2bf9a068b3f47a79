-- Presence script `join` (see src/cluster/redis_presence.rs for its ARGV and reply).
-- Returns `{first, connections, since, status, has_note, note}`.
local kp, agent, room, sid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local a = kp..'a:'..agent
local r = kp..'r:'..room
local rs = r..':'..agent
local first = 0
if redis.call('SCARD', rs) == 0 then
  first = 1
  redis.call('HSET', r, agent, ARGV[5])
end
redis.call('SADD', rs, sid)
redis.call('SADD', a..':r', room)
redis.call('HSET', kp..'n:'..ARGV[6], sid, ARGV[7])
local h = redis.call('HMGET', a, 'status', 'note')
local since = redis.call('HGET', r, agent) or ARGV[5]
local has_note, note = '0', ''
if h[2] then has_note, note = '1', h[2] end
return {tostring(first), tostring(redis.call('SCARD', rs)), since, h[1] or 'online', has_note, note}
