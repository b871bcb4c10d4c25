#!lua flags=allow-oom
-- gcra.lua: take one token from an API surface's shared GCRA limiter, unless the surface is paused.
--
-- Generic Cell Rate Algorithm with Redis TIME as the only clock (no client clocks), so every
-- worker process on every host shares one schedule. All times are integer microseconds.
--
-- KEYS[1]  GCRA state of the surface: its theoretical arrival time (TAT), microseconds
-- KEYS[2]  the surface's pause key: "blocked until", microseconds (set by pause.lua after a 429)
-- ARGV[1]  emission interval T, integer microseconds > 0 (one token per T on average)
-- ARGV[2]  tolerance tau = burst * T, integer microseconds >= 0 (0 = evenly spaced)
-- ARGV[3]  "peek" to only ask when a token will be available, taking none (optional)
--
-- Returns {wait_us, now_us}:
--   wait_us  0 when a token was taken (the TAT advanced by T); otherwise the microseconds until a
--            token can be granted: the larger of the remaining pause and the GCRA wait. Nothing is
--            written when no token is granted.
--   now_us   the Redis TIME at which the decision was made.
--
-- The TAT key expires (PX) once it lies in the past, where it is equivalent to no key at all; the
-- expiry is rounded up so the key never disappears while its TAT is still ahead of TIME.
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])

local wait = 0
local blocked = redis.call('GET', KEYS[2])
if blocked then
  local blocked_until = tonumber(blocked)
  if blocked_until > now then
    wait = blocked_until - now
  end
end

local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  tat = math.max(tonumber(stored), now)
end
-- A token is conforming when tat - now <= tau; with tau = 0 only when tat <= now, so two grants
-- are always at least T apart.
local gcra_wait = tat - tolerance - now
if gcra_wait > wait then
  wait = gcra_wait
end
if wait > 0 or ARGV[3] == 'peek' then
  return {wait, now}
end

local new_tat = tat + interval
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1
-- Integers formatted explicitly: every digit kept, whatever the Lua version's number format.
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ttl_ms))
return {0, now}
