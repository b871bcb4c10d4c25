#!lua flags=allow-oom
-- release_event.lua: a job gives up on an event (dead letter): let a later delivery of the
-- same event (Customer.io retries it, or a replay) process it.
--
-- KEYS[1]  the event's marker (Keys.webhook_seen)
-- KEYS[2]  the counters hash (Keys.counters)
-- ARGV[1]  the job id that held it
-- Returns  1 when the marker was this job's and is gone, else 0 (counted either way as
--          webhooks_failed)
redis.call('HINCRBY', KEYS[2], 'webhooks_failed', 1)
if redis.call('GET', KEYS[1]) == 'pending:' .. ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
