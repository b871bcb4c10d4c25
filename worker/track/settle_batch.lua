-- settle_batch.lua: take the settled head of a partition's claimed list off, and finish the
-- delivered jobs the way RQ's worker does (status, end time, result TTL, finished registry).
-- Dead-lettered jobs in the settled head were already moved to the failed registry.
--
-- KEYS[1]     the partition's lease key
-- KEYS[2]     the partition's claimed list
-- KEYS[3]     the claimed batch's attempt hash (deleted: progress restarts the count)
-- KEYS[4]     the queue's finished-job registry (rq:finished:<queue>)
-- KEYS[5..]   the job hash keys of the delivered jobs
-- ARGV[1]     this worker's id
-- ARGV[2]     n: how many ids to take off the head of the claimed list
-- ARGV[3]     the end time, RQ's format
-- ARGV[4]     result TTL in seconds (the job hash expires then)
-- ARGV[5]     finished-registry score (now + result TTL)
-- ARGV[6..]   the n ids expected at the head of the claimed list, in order
-- ARGV[6+n..] the delivered job ids (one per KEYS[5..])
-- Returns     n, or -1 when the lease is not ours, -2 when the head is not those ids
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
for k = 5, #KEYS do
  local job_id = ARGV[5 + n + (k - 4)]
  redis.call('HSET', KEYS[k], 'status', 'finished', 'ended_at', ARGV[3])
  redis.call('EXPIRE', KEYS[k], ARGV[4])
  redis.call('ZADD', KEYS[4], ARGV[5], job_id)
end
redis.call('LTRIM', KEYS[2], n, -1)
redis.call('DEL', KEYS[3])
return n
