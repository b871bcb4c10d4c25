-- queue_send.lua: note a transactional send that is about to be enqueued.
--
-- Written before the send's job, so that from the moment the job exists a cancel finds it.
-- The record is created only when there is none: a later send with the same idempotency key
-- never overwrites what the record says (delivered, cancelled, a worker's claim).
--
-- KEYS[1]  the delivery record key
-- KEYS[2]  the send's history list
-- KEYS[3]  the sorted set of recent sends
-- ARGV[1]  the idempotency key (the sorted set's member)
-- ARGV[2]  the job id
-- ARGV[3]  the record's TTL in milliseconds (also the history's)
-- ARGV[4]  now, unix milliseconds (the sorted set's score)
-- ARGV[5]  the history entry to append (JSON)
-- ARGV[6]  the most history entries kept
-- ARGV[7]  sends enqueued before this (unix milliseconds) leave the sorted set
-- KEYS[4]  the erase key hash (<prefix>:erase-key; field "id")
-- KEYS[5..] the erase markers of the people the send concerns (producer/marks.py)
-- ARGV[8]  the erase key id the markers were made with ("" when no markers are checked)
-- Returns  1 when the record was created ("queued:<job id>"), 0 when one was there; nothing
--          written, -1 when one of the people was erased, -2 when the erase key id is not
--          Redis's (the job's own write would be refused for either, see enqueue.lua)
if ARGV[8] ~= '' and redis.call('HGET', KEYS[4], 'id') ~= ARGV[8] then
  return -2
end
for i = 5, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return -1
  end
end
local created = redis.call('SET', KEYS[1], 'queued:' .. ARGV[2], 'NX', 'PX', ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[6]), -1)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[7])
if created then
  return 1
end
return 0
