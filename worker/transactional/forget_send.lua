#!lua flags=allow-oom
-- forget_send.lua: drop a send's delivery record, unless it says the send was delivered.
--
-- Used when Customer.io certainly did not act on a send (release: only this job's own
-- pending claim goes) and when a person asks for an ambiguous send to go again (resend:
-- any queued, pending or ambiguous record goes). A delivered or cancelled record is never
-- dropped: a cancelled send must not go out through a replay.
--
-- KEYS[1]  the delivery record key
-- ARGV[1]  the exact record to drop ("pending:<job id>"), or "" for any record but
--          delivered and cancelled
-- Returns  1 when the record was dropped, else 0
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
local record = redis.call('GET', KEYS[1])
if not record then
  return 0
end
if ARGV[1] ~= '' and record ~= ARGV[1] then
  return 0
end
if ARGV[1] == '' and (string.sub(record, 1, 10) == 'delivered:'
    or string.sub(record, 1, 10) == 'cancelled:') then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
