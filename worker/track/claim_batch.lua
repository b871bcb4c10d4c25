#!lua flags=allow-oom
-- claim_batch.lua: claim the head of a Track partition for delivery, if we hold its lease.
--
-- A batch left in the claimed list (by a worker that died, or by our own retry) is returned
-- first and nothing new is claimed, so the partition's order is kept.
--
-- Erasure (producer/erase.py): ids in the erased-jobs set belong to an erased person. They are
-- dropped here, atomically with the claim: taken out of the claimed list (a retried batch)
-- or never put in it (new work), removed from the set and counted (track_erased). Costs one
-- SCARD per claim while nobody is being erased.
--
-- KEYS[1]  the partition's lease key (value: the holder's worker id)
-- KEYS[2]  the partition's RQ queue key (rq:queue:<prefix>-track-<p>)
-- KEYS[3]  the partition's claimed list
-- KEYS[4]  the claimed batch's attempt hash (field "attempts": failed attempts so far)
-- KEYS[5]  the erased-jobs set (<prefix>:erased-jobs)
-- KEYS[6]  the counters hash (<prefix>:counters; field track_erased += dropped)
-- KEYS[7]  this minute's counters hash (<prefix>:counters:<minute>; the same field)
-- ARGV[1]  this worker's id
-- ARGV[2]  the most job ids to claim
-- ARGV[3]  the minute hash's TTL in seconds (0 = counting is off: KEYS[7] untouched; the
--          all-time count is kept regardless, like settle_batch.lua's track_delivered)
-- Returns  false when the lease is not ours; else
--          {already_claimed (0|1), failed attempts so far, job ids...}
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return false
end
local erasing = redis.call('SCARD', KEYS[5]) > 0
local dropped = 0
-- The ids of `ids` not in the erased-jobs set (those are taken out of it and counted).
local function keep(ids)
  if not erasing then
    return ids
  end
  local kept = {}
  for _, id in ipairs(ids) do
    if redis.call('SREM', KEYS[5], id) == 1 then
      dropped = dropped + 1
    else
      kept[#kept + 1] = id
    end
  end
  return kept
end
local function counted(reply)
  if dropped > 0 then
    redis.call('HINCRBY', KEYS[6], 'track_erased', dropped)
    local ttl = tonumber(ARGV[3])
    if ttl > 0 then
      redis.call('HINCRBY', KEYS[7], 'track_erased', dropped)
      redis.call('EXPIRE', KEYS[7], ttl)
    end
  end
  return reply
end
local claimed = redis.call('LRANGE', KEYS[3], 0, -1)
if #claimed > 0 then
  local kept = keep(claimed)
  if #kept < #claimed then
    redis.call('DEL', KEYS[3])
    if #kept > 0 then
      redis.call('RPUSH', KEYS[3], unpack(kept))
    end
  end
  if #kept > 0 then
    local attempts = tonumber(redis.call('HGET', KEYS[4], 'attempts') or '0')
    table.insert(kept, 1, attempts)
    table.insert(kept, 1, 1)
    return counted(kept)
  end
  redis.call('DEL', KEYS[4])  -- nothing of that batch is left to retry
end
local n = tonumber(ARGV[2])
-- A head made only of erased jobs is skipped over, a bounded number of times per claim.
for _ = 1, 10 do
  local ids = redis.call('LRANGE', KEYS[2], 0, n - 1)
  if #ids == 0 then
    return counted({0, 0})
  end
  redis.call('LTRIM', KEYS[2], #ids, -1)
  ids = keep(ids)
  if #ids > 0 then
    redis.call('RPUSH', KEYS[3], unpack(ids))
    table.insert(ids, 1, 0)
    table.insert(ids, 1, 0)
    return counted(ids)
  end
end
return counted({0, 0})
