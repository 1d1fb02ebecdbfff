-- replay. ARGV: job id (padded), now ms, time mode.
-- Returns {1} if the dead job is scheduled again at now with a fresh attempt budget (history kept), {0} if
-- it is not dead, {2, endpoint} if its endpoint is disabled.
local now = clock(ARGV[2], ARGV[3])
local m = ARGV[1]
local j = key('j', m)
local f = redis.call('HMGET', j, 's', 'e')
if f[1] ~= 'd' then
  return {0}
end
local ep = f[2]
if disabled(ep) then
  return {2, ep}
end
redis.call('ZREM', key('dead'), m)
redis.call('ZREM', key('dead', ep), m)
redis.call('HSET', j, 'n', 0, 'l', 0)
redis.call('HDEL', j, 'r')
schedule(m, ep, now)
wake()
return {1}
