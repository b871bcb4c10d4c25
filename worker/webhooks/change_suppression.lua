#!lua flags=allow-oom
-- change_suppression.lua: set or clear suppression reasons of subjects; a later time wins.
--
-- Each subject's hash holds one field per reason: "<ts> <event id>" while in force,
-- "<ts> -" once cleared at <ts> (see producer/suppressions.py). A change applies only when it
-- is newer than the field: an event that arrives late never undoes a newer one. At the same
-- second a suppression beats a clear (when in doubt, do not send). A field that is not in that
-- form, or whose time is after ARGV[5] (damaged, or written in milliseconds by an older
-- version), counts as older than any change, so that a real event or a manual remove repairs it.
--
-- KEYS[1]   the sorted set of subjects with a reason in force (score: last change)
-- KEYS[2..] the subjects' suppression hashes
-- ARGV[1]   "set" or "clear"
-- ARGV[2]   the reasons, comma-separated
-- ARGV[3]   the change's time (unix seconds)
-- ARGV[4]   the event id (set only)
-- ARGV[5]   the latest plausible stored time (unix seconds): later ones are damaged
-- ARGV[6..] the subjects (members of KEYS[1]), in the order of KEYS[2..]
-- Returns   how many (subject, reason) fields changed
-- Flag allow-oom: recording a bounce must not wait for memory (see worker/core/lua.py).
local set = ARGV[1] == 'set'
local ts = tonumber(ARGV[3])
local latest = tonumber(ARGV[5])
local changed = 0
for i = 2, #KEYS do
  local key, subject = KEYS[i], ARGV[i + 4]
  local touched = false
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'hash' and kind ~= 'none' then
    -- not ours to read (written by hand): this change replaces it
    redis.call('DEL', key)
  end
  for reason in string.gmatch(ARGV[2], '[^,]+') do
    local current = redis.call('HGET', KEYS[i], reason)
    local cur_ts, cur_id = -1, '-'
    if current then
      local stamp, id = string.match(current, '^(%d+) (.*)$')
      local parsed = tonumber(stamp)
      if parsed and parsed <= latest then cur_ts, cur_id = parsed, id end
    end
    local value = nil
    if set and (ts > cur_ts or (ts == cur_ts and cur_id == '-')) then
      value = ARGV[3] .. ' ' .. ARGV[4]
    elseif (not set) and ts > cur_ts then
      -- kept even when nothing was in force: an older suppression arriving late must lose
      value = ARGV[3] .. ' -'
    end
    if value then
      redis.call('HSET', key, reason, value)
      touched = true
      changed = changed + 1
    end
  end
  if touched then
    local in_force = false
    local fields = redis.call('HGETALL', key)
    for j = 2, #fields, 2 do
      local value = fields[j]
      if string.match(value, '^%d+ ') and string.sub(value, -2) ~= ' -' then in_force = true end
    end
    if in_force then
      redis.call('ZADD', KEYS[1], ts, subject)
    else
      redis.call('ZREM', KEYS[1], subject)
    end
  end
end
return changed
