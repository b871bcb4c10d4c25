#!lua flags=allow-oom
-- delivery_event.lua: add a reporting-webhook event to the history of the send it is about.
--
-- Only deliveries that one of our sends received (the join key, written when the send
-- succeeded, exists) are kept: campaign messages' events would otherwise fill Redis with
-- lists nobody asks for. The list lives as long as the join key.
--
-- KEYS[1]  the delivery_id -> idempotency key join key
-- KEYS[2]  the delivery's event list
-- ARGV[1]  the event entry (JSON)
-- ARGV[2]  the most entries kept
-- Returns  1 when the event was added, 0 when the delivery is not one of our sends
-- Flag allow-oom: the webhook worker runs it while Redis is full (it is small and bounded).
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
