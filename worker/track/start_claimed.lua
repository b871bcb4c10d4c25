#!lua flags=allow-oom
-- start_claimed.lua: mark claimed Track jobs started and read their data, in one round trip.
--
-- A job whose hash is gone (deleted, expired) is skipped: HSET on a missing key would create
-- a stray rq:job:<id> holding only a status, with no data and no expiry.
--
-- KEYS[1..]  the job hash keys of the claimed ids, in claim order
-- ARGV[1]    started_at, RQ's format
-- ARGV[2]    this worker's id (the job's worker_name)
-- Returns    for each job in KEYS order, its data and enqueued_at fields (false, false for a
--            job whose hash is gone): a flat list of 2 * #KEYS values
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
local data = {}
for i, key in ipairs(KEYS) do
  local fields = redis.call('HMGET', key, 'data', 'enqueued_at')
  if fields[1] then
    redis.call('HSET', key, 'status', 'started', 'started_at', ARGV[1], 'worker_name', ARGV[2])
  end
  data[2 * i - 1] = fields[1]
  data[2 * i] = fields[2]
end
return data
