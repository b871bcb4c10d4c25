#!lua flags=allow-oom
-- claim_send.lua: claim a transactional send's delivery record before sending it.
--
-- The record (one string per idempotency key) is one of
--   "queued:<job id>"      enqueued (producer/lua/queue_send.lua) or released for a retry:
--                          any job of this key may claim it
--   "pending:<job id>"     a worker is sending it now, or died while sending it
--   "ambiguous:<job id>"   an attempt may have reached Customer.io; a person must decide
--   "delivered:<delivery id>"
--   "cancelled:<job id>"   cancelled while queued (producer/lua/cancel_send.lua): never sent
--
-- KEYS[1]  the delivery record key
-- KEYS[2]  the erased-jobs set (<prefix>:erased-jobs): ids of an erased person's jobs
-- KEYS[3]  the claim-token key (<prefix>:send-claim:<idempotency key>)
-- ARGV[1]  the job id that wants to send
-- ARGV[2]  the record's TTL in milliseconds
-- ARGV[3]  "1" to send again over this job's own pending/ambiguous record (at-least-once
--          mode, or a person asked for a resend), else "0"
-- ARGV[4]  this claim's token: random, new for every claim the worker makes
-- Returns  {"claimed"}                   the record now says pending:<job id>: send
--          {"delivered", <delivery id>}  already sent: do not send
--          {"cancelled"}                 cancelled: do not send, ever
--          {"self", <state>}             this job's own earlier attempt left <state>
--                                        (pending or ambiguous): outcome unknown
--          {"other", <state>, <job id>}  another job holds the key
--          {"erased"}                    the job is an erased person's: never send it
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
-- The token: a worker whose connection drops after this script ran but before its reply
-- arrived (a failover, a reset) runs it again with the same arguments. Without the token that
-- second run would find "pending:<this job>" and answer "self" (outcome unknown), and a send
-- never attempted would be dead-lettered as ambiguous. With it, the same claim is recognised
-- and answered "claimed" again: nothing was sent in between, since the sender never had the
-- first answer. A genuine earlier attempt had another token, so it still answers "self".
-- Erasure (producer/erase.py), checked first and atomically with the claim: once an erase
-- has listed this job, it is never sent, whatever its record says.
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return {'erased'}
end
-- The delivery record.
local record = redis.call('GET', KEYS[1])
if record then
  local state, owner = string.match(record, '^(%a+):(.*)$')
  if state == 'delivered' then
    return {'delivered', owner}
  end
  if state == 'cancelled' then
    return {'cancelled'}
  end
  if state == 'queued' then
    redis.call('SET', KEYS[1], 'pending:' .. ARGV[1], 'PX', ARGV[2])
    redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[2])
    return {'claimed'}
  end
  if owner ~= ARGV[1] then
    return {'other', state, owner}
  end
  if state == 'pending' and redis.call('GET', KEYS[3]) == ARGV[4] then
    return {'claimed'}
  end
  if ARGV[3] ~= '1' then
    return {'self', state}
  end
end
redis.call('SET', KEYS[1], 'pending:' .. ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[2])
return {'claimed'}
