-- enqueue.lua: write RQ jobs and push them onto their queues, atomically, unless one of them
-- concerns an erased person.
--
-- Writes exactly what RQ's Queue.enqueue_job writes for a job without dependencies (the job
-- hash, the queue in the set of queues, the id at the tail of the queue), for a chunk of jobs
-- in one command, so a chunk costs one round trip and is written completely or not at all.
-- Values shared by the chunk (queue names, timeout, status) travel once, not once per job.
-- Each queue gets one RPUSH of its jobs' ids, in chunk order, after the hashes: a Redis call
-- per job instead of two (measured, about a fifth of the script's time); nobody sees the
-- difference, as the script is atomic.
-- The fields are rq's job-hash layout, a reach below rq's API: named in producer/compat/rq.py
-- (JOB_HASH_FIELDS), where a contract test reads a job written here back with rq's Job.fetch.
--
-- Erasure (producer/erase.py): each job names the markers of the people it concerns (keyed
-- hashes, producer/marks.py). Every marker is checked before the first write; if one exists,
-- nothing of the chunk is written (all-or-nothing stays true) and the erased jobs are named.
-- The erase key id the producer hashed with is checked first: a producer holding a key that
-- is no longer Redis's (a flushed database) would check markers nobody can match. Markers are
-- only looked up while an erase's retention runs (KEYS[3] exists): otherwise a chunk costs
-- one EXISTS more than before, not one per job.
--
-- KEYS[1]              the set of all queue keys (rq:queues)
-- KEYS[2]              the erase key hash (<prefix>:erase-key; field "id")
-- KEYS[3]              the erasing flag (<prefix>:erasing), set for the longest retention
-- KEYS[4 .. q+3]       the queue keys (rq:queue:<name>) jobs may go to, numbered 1..q
-- KEYS[q+4 ..]         per job, in order: its hash key (rq:job:<id>), then its m markers
--                      (<prefix>:erased:<mark>)
-- ARGV[1]              q, the number of queue keys
-- ARGV[2]              the erase key id the markers were made with
-- ARGV[3 .. q+2]       the queue names (the jobs' "origin"), numbered as their keys
-- ARGV[q+3], ARGV[q+4] the jobs' "timeout" and "status" fields
-- ARGV[q+5 ..]         six per job, in order: job id, queue number (1..q), created_at (also
--                      enqueued_at), data, description, m (its number of markers)
-- Returns              the number of jobs written; or, nothing written, {"erase-key"} when
--                      the key id is not Redis's, {"erased", i, ...} with the 0-based
--                      positions of the jobs whose person is erased
local q = tonumber(ARGV[1])
if redis.call('HGET', KEYS[2], 'id') ~= ARGV[2] then
  return {'erase-key'}
end
local refused = nil
local checking = redis.call('EXISTS', KEYS[3]) == 1
local k, pos, job = q + 4, q + 5, 0
while checking and k <= #KEYS do
  local m = tonumber(ARGV[pos + 5])
  for j = 1, m do
    if redis.call('EXISTS', KEYS[k + j]) == 1 then
      refused = refused or {'erased'}
      refused[#refused + 1] = job
      break
    end
  end
  k, pos, job = k + 1 + m, pos + 6, job + 1
end
if refused then
  return refused
end
local timeout, status = ARGV[q + 3], ARGV[q + 4]
local ids = {}
k, pos, job = q + 4, q + 5, 0
while k <= #KEYS do
  local n = tonumber(ARGV[pos + 1])
  local created = ARGV[pos + 2]
  redis.call('HSET', KEYS[k], 'created_at', created, 'data', ARGV[pos + 3],
    'origin', ARGV[n + 2], 'description', ARGV[pos + 4], 'enqueued_at', created,
    'timeout', timeout, 'status', status)
  local queued = ids[n]
  if queued == nil then
    queued = {}
    ids[n] = queued
  end
  queued[#queued + 1] = ARGV[pos]
  k, pos, job = k + 1 + tonumber(ARGV[pos + 5]), pos + 6, job + 1
end
for n, queued in pairs(ids) do
  redis.call('SADD', KEYS[1], KEYS[n + 3])
  -- In slices: unpack() is bounded by Lua's C stack (about 8000 values).
  for first = 1, #queued, 1000 do
    redis.call('RPUSH', KEYS[n + 3], unpack(queued, first, math.min(first + 999, #queued)))
  end
end
return job
