-- Drafts script `put`: a stream opened (its object, empty text) or fed (text appended).
-- KEYS: the stream's hash, the room's sorted set of open streams (id -> expiry, Redis ms).
-- ARGV: id, ttl ms, stream object JSON ('' when fed), index, text to append.
-- A stream fed after its hash is gone (ended, aborted, expired) is not brought back.
local h, r = KEYS[1], KEYS[2]
local id, ttl, stream, index, text = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
if stream ~= '' then
  redis.call('HSET', h, 'stream', stream, 'text', '', 'index', '-1')
elseif redis.call('EXISTS', h) == 0 then
  return 0
else
  local so_far = redis.call('HGET', h, 'text') or ''
  redis.call('HSET', h, 'text', so_far .. text, 'index', index)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('PEXPIRE', h, ttl)
redis.call('ZADD', r, now + ttl, id)
redis.call('PEXPIRE', r, ttl)
return 1
