#!lua flags=allow-oom
-- release_send.lua: hand a send's claim back after Customer.io certainly did not act on it.
--
-- The record goes from this job's "pending:<job id>" back to "queued:<job id>", so that
-- while the job waits for its retry (or sits dead-lettered as refused) the send can still be
-- cancelled, and another job of the same key may claim it. Anything else (another job's
-- claim, delivered, cancelled) is left alone. The attempt's history entry rides along.
--
-- KEYS[1]  the delivery record key
-- KEYS[2]  the send's history list
-- ARGV[1]  the job id whose claim is released
-- ARGV[2]  the record's TTL in milliseconds (also the history's)
-- ARGV[3]  a history entry to append (JSON), or "" for none
-- ARGV[4]  the most history entries kept
-- Returns  1 when the claim was released, else 0
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).
if ARGV[3] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
if redis.call('GET', KEYS[1]) ~= 'pending:' .. ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], 'queued:' .. ARGV[1], 'PX', ARGV[2])
return 1
