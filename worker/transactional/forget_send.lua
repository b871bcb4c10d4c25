#!lua flags=allow-oom
-- forget_send.lua: let a person send again a send whose outcome is unknown.
--
-- Used by `cio-pipeline dlq replay --resend-ambiguous`: a pending (stranded) or ambiguous
-- record goes back to "queued:<job id>", so the replayed job may claim it and send, and the
-- send can still be cancelled until then. A queued record is already sendable; a delivered
-- record is never touched (no second send), nor a cancelled one (a cancelled send must not
-- go out through a replay). (Until issue 20 this dropped the record; a dropped record would
-- make a replayed send impossible to cancel.)
--
-- KEYS[1]  the delivery record key
-- Returns  1 when the record was handed back as queued, else 0
-- Flag allow-oom: like the claim, it must run while Redis is at maxmemory.
local record = redis.call('GET', KEYS[1])
if not record then
  return 0
end
local state, owner = string.match(record, '^(%a+):(.*)$')
if state ~= 'pending' and state ~= 'ambiguous' then
  return 0
end
redis.call('SET', KEYS[1], 'queued:' .. owner, 'KEEPTTL')
return 1
