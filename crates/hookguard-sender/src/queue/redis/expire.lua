-- expire. ARGV: created-before ms, now ms, time mode, limit.
-- Dead-letters `expired` at most `limit` scheduled jobs created before the cut (creation times are the
-- enqueuers' clocks: never moved). Returns {n, 1 if more are left}.
local now = clock(ARGV[2], ARGV[3])
local limit = tonumber(ARGV[4])
local old = redis.call('ZRANGEBYSCORE', key('created'), '-inf', '(' .. ARGV[1], 'LIMIT', 0, limit + 1)
local n = math.min(#old, limit)
for i = 1, n do
  local m = old[i]
  local ep = redis.call('HGET', key('j', m), 'e')
  leave(m, 's', ep)
  kill(m, ep, now, 'expired')
end
return {n, #old > limit and 1 or 0}
