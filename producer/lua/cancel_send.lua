-- cancel_send.lua: cancel a transactional send unless it has left.
--
-- Atomic with the worker's claim (worker/transactional/claim_send.lua): a record that says
-- queued becomes cancelled here, and the claim refuses a cancelled record, so a send is
-- either claimed (and may go out) or cancelled (and never goes out), never both.
--
-- KEYS[1]  the delivery record key
-- KEYS[2]  the send's history list
-- ARGV[1]  the record's TTL in milliseconds (also the history's)
-- ARGV[2]  the history entry to append when cancelled (JSON)
-- ARGV[3]  the most history entries kept
-- Returns  {"unknown"}                 no record: no such send (or it expired)
--          {"cancelled", "new"}        it was queued (or waiting for a retry): now cancelled
--          {"cancelled", "already"}    it was cancelled before
--          {"pending", <job id>}       a worker is sending it now: cannot be cancelled
--          {"ambiguous", <job id>}     an attempt may have reached Customer.io
--          {"delivered", <delivery id>}
local record = redis.call('GET', KEYS[1])
if not record then
  return {'unknown'}
end
local state, value = string.match(record, '^(%a+):(.*)$')
if state == 'cancelled' then
  return {'cancelled', 'already'}
end
if state ~= 'queued' then
  return {state, value}
end
redis.call('SET', KEYS[1], 'cancelled:' .. value, 'PX', ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return {'cancelled', 'new'}
