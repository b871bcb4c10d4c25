#!lua flags=allow-oom
-- lease.lua: renew or release leases on Track partitions, only where we hold them.
--
-- KEYS[1..]  lease keys
-- ARGV[1]    this worker's id
-- ARGV[2]    "renew" (PEXPIRE to ARGV[3] ms) or "release" (DEL)
-- ARGV[3]    lease TTL in milliseconds (renew)
-- Returns    for each key, 1 when it was ours (renewed or released), 0 when not
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    if ARGV[2] == 'renew' then
      redis.call('PEXPIRE', key, ARGV[3])
    else
      redis.call('DEL', key)
    end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
