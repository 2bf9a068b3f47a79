-- Presence script `reap_unlock`: releases the reaper lock if the caller still holds it.
-- KEYS: reaper lock.  ARGV: node.
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
