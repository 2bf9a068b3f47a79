-- Drafts script `list`: the open streams of a room, expired ones pruned first.
-- KEYS: the room's sorted set of open streams. ARGV: the prefix of stream hashes.
-- Returns stream JSON, text, index for each stream still there, flat.
local r, prefix = KEYS[1], ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', r, '-inf', now)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', r, 0, -1)) do
  local v = redis.call('HMGET', prefix .. id, 'stream', 'text', 'index')
  if v[1] then
    out[#out + 1] = v[1]
    out[#out + 1] = v[2] or ''
    out[#out + 1] = v[3] or '-1'
  else
    redis.call('ZREM', r, id)
  end
end
return out
