#!lua flags=allow-oom
-- take_leases.lua: take free partition leases, in the order given, up to a number.
--
-- KEYS[1..]  candidate lease keys, in order of preference
-- ARGV[1]    this worker's id
-- ARGV[2]    lease TTL in milliseconds
-- ARGV[3]    the most leases to take
-- Returns    for each key, 1 when it was taken now, else 0 (held by another, or enough taken)
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
local wanted = tonumber(ARGV[3])
local taken = 0
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = 0
  if taken < wanted and redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 1
    taken = taken + 1
  end
end
return out
