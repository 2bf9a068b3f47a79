-- Presence script `reap_unlock` (see src/cluster/redis_presence.rs for its ARGV and reply).
-- Releases the reaper lock if the caller still holds it.
if redis.call('GET', ARGV[1]..'reaper') == ARGV[2] then redis.call('DEL', ARGV[1]..'reaper') end
return 0
