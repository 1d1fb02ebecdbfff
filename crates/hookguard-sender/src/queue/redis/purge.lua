-- purge. ARGV: endpoint ('' for all), min score, max score (the time filter), limit.
-- Deletes at most `limit` matching dead letters, oldest first, with their history and event-id entries.
-- Returns {n, 1 if more are left}.
local k = ARGV[1] == '' and key('dead') or key('dead', ARGV[1])
local limit = tonumber(ARGV[4])
local found = scan(k, ARGV[2], ARGV[3], limit, function()
  return true
end)
local n = math.min(#found, limit)
for i = 1, n do
  local m = found[i]
  local ep = redis.call('HGET', key('j', m), 'e')
  redis.call('ZREM', key('dead'), m)
  if ep then
    redis.call('ZREM', key('dead', ep), m)
  end
  delete(m)
end
return {n, #found > limit and 1 or 0}
