-- reap. ARGV: now ms, time mode, max lapses, limit.
-- Takes back at most `limit` leases whose deadline is before now: each counts a lapse and is due again at
-- once, or dead-letters `lease-expired` at `max lapses`. Returns {n, 1 if more lapsed leases are left}.
local now = clock(ARGV[1], ARGV[2])
local max_lapses, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local lapsed = redis.call('ZRANGEBYSCORE', key('flight'), '-inf', '(' .. now, 'LIMIT', 0, limit + 1)
local n = math.min(#lapsed, limit)
for i = 1, n do
  local m = lapsed[i]
  local j = key('j', m)
  redis.call('ZREM', key('flight'), m)
  local lapses = redis.call('HINCRBY', j, 'l', 1)
  local ep = redis.call('HGET', j, 'e')
  if lapses >= max_lapses then
    kill(m, ep, now, 'lease-expired')
  else
    schedule(m, ep, now)
  end
end
if n > 0 then
  wake()
end
return {n, #lapsed > limit and 1 or 0}
