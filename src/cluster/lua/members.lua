-- Presence script `members` (see src/cluster/redis_presence.rs for its ARGV and reply).
-- Eight strings per member: agent, connections, since, name, dn, status, has_note, note.
local kp = ARGV[1]
local r = kp..'r:'..ARGV[2]
local out = {}
local h = redis.call('HGETALL', r)
for i = 1, #h, 2 do
  local agent, since = h[i], h[i + 1]
  local c = redis.call('SCARD', r..':'..agent)
  if c > 0 then
    local a = redis.call('HMGET', kp..'a:'..agent, 'name', 'dn', 'status', 'note')
    table.insert(out, agent)
    table.insert(out, tostring(c))
    table.insert(out, since)
    table.insert(out, a[1] or '')
    table.insert(out, a[2] or '')
    table.insert(out, a[3] or 'online')
    if a[4] then
      table.insert(out, '1')
      table.insert(out, a[4])
    else
      table.insert(out, '0')
      table.insert(out, '')
    end
  end
end
return out
