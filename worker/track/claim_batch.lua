#!lua flags=allow-oom
-- claim_batch.lua: claim the head of a Track partition for delivery, if we hold its lease.
--
-- A batch left in the claimed list (by a worker that died, or by our own retry) is returned
-- first and nothing new is claimed, so the partition's order is kept.
--
-- KEYS[1]  the partition's lease key (value: the holder's worker id)
-- KEYS[2]  the partition's RQ queue key (rq:queue:<prefix>-track-<p>)
-- KEYS[3]  the partition's claimed list
-- KEYS[4]  the claimed batch's attempt hash (field "attempts": failed attempts so far)
-- ARGV[1]  this worker's id
-- ARGV[2]  the most job ids to claim
-- Returns  false when the lease is not ours; else
--          {already_claimed (0|1), failed attempts so far, job ids...}
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return false
end
local claimed = redis.call('LRANGE', KEYS[3], 0, -1)
if #claimed > 0 then
  local attempts = tonumber(redis.call('HGET', KEYS[4], 'attempts') or '0')
  table.insert(claimed, 1, attempts)
  table.insert(claimed, 1, 1)
  return claimed
end
local n = tonumber(ARGV[2])
local ids = redis.call('LRANGE', KEYS[2], 0, n - 1)
if #ids == 0 then
  return {0, 0}
end
redis.call('LTRIM', KEYS[2], #ids, -1)
redis.call('RPUSH', KEYS[3], unpack(ids))
table.insert(ids, 1, 0)
table.insert(ids, 1, 0)
return ids
