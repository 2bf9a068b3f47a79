-- Presence script `members`: who is in a room.
-- KEYS: room hash.  ARGV: key prefix (for the agents' keys, in the same hash slot).
-- Returns JSON [{agent, name, dn, connections, since, status, note?}] (replies.rs `Member`).
local r, kp = KEYS[1], ARGV[1]
local out = {}
local h = redis.call('HGETALL', r)
for i = 1, #h, 2 do
  local agent, since = h[i], h[i + 1]
  local c = redis.call('SCARD', r..':'..agent)
  if c > 0 then
    local a = redis.call('HMGET', kp..'a:'..agent, 'name', 'dn', 'status', 'note')
    table.insert(out, {
      agent = agent, connections = c, since = since,
      name = a[1] or '', dn = a[2] or '', status = a[3] or 'online', note = a[4] or nil,
    })
  end
end
return cjson.encode(out)
