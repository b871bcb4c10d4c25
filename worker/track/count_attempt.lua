#!lua flags=allow-oom
-- count_attempt.lua: count a failed delivery attempt of a partition's claimed batch.
--
-- KEYS[1]  the claimed batch's attempt hash (fields attempts, first_attempt_at)
-- KEYS[2]  the counters hash (<prefix>:counters)
-- KEYS[3]  this minute's counters hash (<prefix>:counters:<minute>)
-- ARGV[1]  now (unix seconds): the first attempt's time, if this is the first
-- ARGV[2]  the minute hash's TTL in seconds
-- ARGV[3..] counter field, increment pairs (added to KEYS[2] and KEYS[3]; may be none)
-- Returns  {attempts so far (this one included), first attempt's time (a string)}
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
for i = 3, #ARGV - 1, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1])
end
if #ARGV > 2 then
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSETNX', KEYS[1], 'first_attempt_at', ARGV[1])
return {attempts, redis.call('HGET', KEYS[1], 'first_attempt_at')}
