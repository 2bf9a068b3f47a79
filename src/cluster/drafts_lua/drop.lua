-- Drafts script `drop`: a stream ended or was aborted.
-- KEYS: the stream's hash, the room's sorted set of open streams. ARGV: id.
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
