-- enqueue.lua: write RQ jobs and push them onto their queues, atomically.
--
-- Writes exactly what RQ's Queue.enqueue_job writes for a job without dependencies (the job
-- hash, the queue in the set of queues, the id at the tail of the queue), for a chunk of jobs
-- in one command, so a chunk costs one round trip and is written completely or not at all.
-- Values shared by the chunk (queue names, timeout, status) travel once, not once per job.
--
-- KEYS[1]              the set of all queue keys (rq:queues)
-- KEYS[2 .. q+1]       the queue keys (rq:queue:<name>) jobs may go to, numbered 1..q
-- KEYS[q+2 ..]         one per job, in order: its hash key (rq:job:<id>)
-- ARGV[1]              q, the number of queue keys
-- ARGV[2 .. q+1]       the queue names (the jobs' "origin"), numbered as their keys
-- ARGV[q+2], ARGV[q+3] the jobs' "timeout" and "status" fields
-- ARGV[q+4 ..]         five per job, in order: job id, queue number (1..q), created_at (also
--                      enqueued_at), data, description
-- Returns              the number of jobs written
local q = tonumber(ARGV[1])
local timeout, status = ARGV[q + 2], ARGV[q + 3]
local registered = {}
local pos = q + 4
for k = q + 2, #KEYS do
  local n = tonumber(ARGV[pos + 1])
  local queue_key = KEYS[n + 1]
  local created = ARGV[pos + 2]
  redis.call('HSET', KEYS[k], 'created_at', created, 'data', ARGV[pos + 3],
    'origin', ARGV[n + 1], 'description', ARGV[pos + 4], 'enqueued_at', created,
    'timeout', timeout, 'status', status)
  if not registered[n] then
    redis.call('SADD', KEYS[1], queue_key)
    registered[n] = true
  end
  redis.call('RPUSH', queue_key, ARGV[pos])
  pos = pos + 5
end
return #KEYS - q - 1
