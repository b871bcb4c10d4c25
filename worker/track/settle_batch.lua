#!lua flags=allow-oom
-- settle_batch.lua: take the settled head of a partition's claimed list off, and finish the
-- delivered jobs. By default (keep = 0) a delivered job's hash is deleted at once: the
-- counter below and the delivery log lines keep the history, and draining never grows Redis. With keep > 0 they are
-- finished the way RQ's worker does (status, end time, expiry, finished registry), for
-- debugging. Dead-lettered jobs in the settled head were already moved to the failed registry.
--
-- KEYS[1]     the partition's lease key
-- KEYS[2]     the partition's claimed list
-- KEYS[3]     the claimed batch's attempt hash (deleted: progress restarts the count)
-- KEYS[4]     the queue's finished-job registry (rq:finished:<queue>)
-- KEYS[5]     the counters hash (<prefix>:counters; field track_delivered += delivered)
-- KEYS[6]     this minute's counters hash (<prefix>:counters:<minute>)
-- KEYS[7..]   the job hash keys of the delivered jobs
-- ARGV[1]     this worker's id
-- ARGV[2]     n: how many ids to take off the head of the claimed list
-- ARGV[3]     the end time, RQ's format
-- ARGV[4]     keep: seconds a delivered job stays as finished (0 = deleted at once)
-- ARGV[5]     finished-registry score (now + keep)
-- ARGV[6]     m: how many counter pairs follow ARGV[7] (0 = counting is off)
-- ARGV[7]     the minute hash's TTL in seconds (0 = counting is off: KEYS[6] untouched)
-- ARGV[8..]   m pairs: counter field, increment (added to KEYS[5] and KEYS[6])
-- then        the n ids expected at the head of the claimed list, in order
-- then        the delivered job ids (one per KEYS[7..])
-- Returns     n, or -1 when the lease is not ours, -2 when the head is not those ids
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local n = tonumber(ARGV[2])
local m = tonumber(ARGV[6])
local ids = 8 + 2 * m  -- where the head ids start in ARGV
local head = redis.call('LRANGE', KEYS[2], 0, n - 1)
for i = 1, n do
  if head[i] ~= ARGV[ids - 1 + i] then
    return -2
  end
end
local keep = tonumber(ARGV[4])
for k = 7, #KEYS do
  if keep > 0 then
    local job_id = ARGV[ids - 1 + n + (k - 6)]
    -- EXISTS first: HSET on a hash deleted meanwhile would leave a stray key behind
    if redis.call('EXISTS', KEYS[k]) == 1 then
      redis.call('HSET', KEYS[k], 'status', 'finished', 'ended_at', ARGV[3])
      redis.call('EXPIRE', KEYS[k], keep)
      redis.call('ZADD', KEYS[4], ARGV[5], job_id)
    end
  else
    redis.call('DEL', KEYS[k])
  end
end
local delivered = #KEYS - 6
if delivered > 0 then
  redis.call('HINCRBY', KEYS[5], 'track_delivered', delivered)
end
if m > 0 or (delivered > 0 and ARGV[7] ~= '0') then
  if delivered > 0 then
    redis.call('HINCRBY', KEYS[6], 'track_delivered', delivered)
  end
  for i = 0, m - 1 do
    redis.call('HINCRBY', KEYS[5], ARGV[8 + 2 * i], ARGV[9 + 2 * i])
    redis.call('HINCRBY', KEYS[6], ARGV[8 + 2 * i], ARGV[9 + 2 * i])
  end
  redis.call('EXPIRE', KEYS[6], ARGV[7])
end
redis.call('LTRIM', KEYS[2], n, -1)
redis.call('DEL', KEYS[3])
return n
