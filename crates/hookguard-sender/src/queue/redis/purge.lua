-- purge. ARGV: endpoint filter (see `endpoint_arg`), min score, max score (the time filter), limit, reason
-- filter (see `reason_matches`).
-- Deletes at most `limit` matching dead letters, oldest first, with their history and event-id entries.
-- Returns {n, 1 if more are left}.
local only = endpoint_arg(ARGV[1])
local k = only and key('dead', only) or key('dead')
local limit = tonumber(ARGV[4])
local found = scan(k, ARGV[2], ARGV[3], limit, function(m)
  return reason_matches(ARGV[5], m)
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
