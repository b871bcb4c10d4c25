#!lua flags=allow-oom
-- claim_event.lua: claim a reporting-webhook event before processing it (de-duplication).
--
-- The marker (one string per event id) is "pending:<job id>" while a job processes the
-- event (expires after ARGV[2] ms, so a killed worker cannot hold it for ever) and "done"
-- once it was processed (kept ARGV[3] ms: Customer.io retries for up to 7 days).
--
-- KEYS[1]  the event's marker (Keys.webhook_seen)
-- KEYS[2]  the counters hash (Keys.counters)
-- ARGV[1]  the job id that wants to process it
-- ARGV[2]  the pending marker's TTL in milliseconds
-- Returns  {"claimed"}               process it
--          {"duplicate"}             already processed (counted as webhooks_duplicate)
--          {"other", <job id>}       another job is processing it now
-- Flag allow-oom: processing an event frees its job (see worker/core/lua.py).
local marker = redis.call('GET', KEYS[1])
if marker then
  if marker == 'done' then
    redis.call('HINCRBY', KEYS[2], 'webhooks_duplicate', 1)
    return {'duplicate'}
  end
  local owner = string.match(marker, '^pending:(.*)$')
  if owner ~= ARGV[1] then
    return {'other', owner or ''}
  end
end
redis.call('SET', KEYS[1], 'pending:' .. ARGV[1], 'PX', ARGV[2])
return {'claimed'}
