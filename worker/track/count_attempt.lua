#!lua flags=allow-oom
-- count_attempt.lua: count a failed delivery attempt of a partition's claimed batch.
--
-- KEYS[1]  the claimed batch's attempt hash (fields attempts, first_attempt_at)
-- ARGV[1]  now (unix seconds): the first attempt's time, if this is the first
-- Returns  {attempts so far (this one included), first attempt's time (a string)}
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSETNX', KEYS[1], 'first_attempt_at', ARGV[1])
return {attempts, redis.call('HGET', KEYS[1], 'first_attempt_at')}
