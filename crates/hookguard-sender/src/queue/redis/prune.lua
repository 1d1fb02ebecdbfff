-- prune. ARGV: older-than ms, limit.
-- Deletes at most `limit` jobs delivered before the cut, with their history and event-id entries (the
-- event id is new again). Returns {n, 1 if more are left}.
local limit = tonumber(ARGV[2])
local old = redis.call('ZRANGEBYSCORE', key('delivered'), '-inf', '(' .. ARGV[1], 'LIMIT', 0, limit + 1)
local n = math.min(#old, limit)
for i = 1, n do
  redis.call('ZREM', key('delivered'), old[i])
  delete(old[i])
end
return {n, #old > limit and 1 or 0}
