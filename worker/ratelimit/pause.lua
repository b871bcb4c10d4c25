#!lua flags=allow-oom
-- pause.lua: extend an API surface's shared pause ("blocked until") and report what remains.
--
-- Used after a 429: every worker taking tokens through gcra.lua waits until the pause ends. A
-- pause is only ever extended, never shortened, so a short Retry-After seen by one worker cannot
-- cut a longer pause set by another. Redis TIME is the clock; all times are microseconds.
--
-- KEYS[1]  the surface's pause key: "blocked until", integer microseconds of Redis TIME
-- ARGV[1]  requested pause, integer microseconds >= 0 (0 = only read the remaining pause)
--
-- Returns the remaining pause in integer microseconds after the call (0 = not paused).
-- The key expires (PX, rounded up) when the pause ends, so nothing lingers.
-- Flag allow-oom: it must run while Redis is at maxmemory, since delivering is what
-- frees memory (see worker/core/lua.py).

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local requested = tonumber(ARGV[1])

local blocked_until = 0
local stored = redis.call('GET', KEYS[1])
if stored then
  blocked_until = tonumber(stored)
end

local wanted = now + requested
if requested > 0 and wanted > blocked_until then
  local ttl_ms = math.ceil(requested / 1000)
  redis.call('SET', KEYS[1], string.format('%d', wanted), 'PX', string.format('%d', ttl_ms))
  blocked_until = wanted
end

if blocked_until > now then
  return blocked_until - now
end
return 0
