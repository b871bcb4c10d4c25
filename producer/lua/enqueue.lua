-- enqueue.lua: write RQ jobs and push them onto their queues, atomically.
--
-- Writes exactly what RQ's Queue.enqueue_job writes for a job without dependencies (the job
-- hash, the queue in the set of queues, the id at the tail of the queue), but in one command,
-- so a producer call costs one round trip and is written completely or not at all.
--
-- KEYS[1]            the set of all queue keys (rq:queues)
-- KEYS[2k], KEYS[2k+1]  for job k (k = 1..n): its hash key (rq:job:<id>), its queue key
--                    (rq:queue:<name>)
-- ARGV               for job k, in order: the job id, the number m of hash arguments, then m
--                    arguments (field, value, field, value, ...) as produced by Job.to_dict()
-- Returns            the number of jobs written
local pos = 1
local written = 0
for k = 2, #KEYS, 2 do
  local job_id = ARGV[pos]
  local m = tonumber(ARGV[pos + 1])
  redis.call('HSET', KEYS[k], unpack(ARGV, pos + 2, pos + 1 + m))
  pos = pos + 2 + m
  redis.call('SADD', KEYS[1], KEYS[k + 1])
  redis.call('RPUSH', KEYS[k + 1], job_id)
  written = written + 1
end
return written
