#!lua flags=allow-oom
-- live_workers.lua: register this worker as live, forget expired ones, count the live ones.
--
-- KEYS[1]  the live-worker set (sorted set: worker id -> heartbeat expiry, unix seconds)
-- ARGV[1]  this worker's id
-- ARGV[2]  this worker's heartbeat expiry (now + lease TTL)
-- ARGV[3]  now (Redis TIME, unix seconds): entries that expired before it are removed
-- Returns  how many workers are live
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
return redis.call('ZCARD', KEYS[1])
