#!lua flags=allow-oom
-- start_claimed.lua: mark claimed Track jobs started and read their data, in one round trip.
--
-- A job whose hash is gone (deleted, expired) is skipped: HSET on a missing key would create
-- a stray rq:job:<id> holding only a status, with no data and no expiry.
--
-- KEYS[1..]  the job hash keys of the claimed ids, in claim order
-- ARGV[1]    started_at, RQ's format
-- ARGV[2]    this worker's id (the job's worker_name)
-- Returns    the jobs' data fields, in KEYS order (false for a job whose hash is gone)
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
local data = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('HGET', key, 'data')
  if value then
    redis.call('HSET', key, 'status', 'started', 'started_at', ARGV[1], 'worker_name', ARGV[2])
  end
  data[i] = value
end
return data
