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
-- KEYS[6..]   the job hash keys of the delivered jobs
-- ARGV[1]     this worker's id
-- ARGV[2]     n: how many ids to take off the head of the claimed list
-- ARGV[3]     the end time, RQ's format
-- ARGV[4]     keep: seconds a delivered job stays as finished (0 = deleted at once)
-- ARGV[5]     finished-registry score (now + keep)
-- ARGV[6..]   the n ids expected at the head of the claimed list, in order
-- ARGV[6+n..] the delivered job ids (one per KEYS[6..])
-- Returns     n, or -1 when the lease is not ours, -2 when the head is not those ids
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local n = tonumber(ARGV[2])
local head = redis.call('LRANGE', KEYS[2], 0, n - 1)
for i = 1, n do
  if head[i] ~= ARGV[5 + i] then
    return -2
  end
end
local keep = tonumber(ARGV[4])
for k = 6, #KEYS do
  if keep > 0 then
    local job_id = ARGV[5 + n + (k - 5)]
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
if #KEYS > 5 then
  redis.call('HINCRBY', KEYS[5], 'track_delivered', #KEYS - 5)
end
redis.call('LTRIM', KEYS[2], n, -1)
redis.call('DEL', KEYS[3])
return n
