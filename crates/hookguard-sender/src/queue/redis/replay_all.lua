-- replay_all. ARGV: endpoint filter (see `endpoint_arg`), min score, max score (the time filter), now ms,
-- time mode, limit, reason filter (see `reason_matches`).
-- Replays at most `limit` matching dead letters, oldest first, skipping those of disabled endpoints.
-- Returns {n, 1 if more are left}, or {-1} if the filter names a disabled endpoint.
local only = endpoint_arg(ARGV[1])
if only and disabled(only) then
  return {-1, 0}
end
local now = clock(ARGV[4], ARGV[5])
local k = only and key('dead', only) or key('dead')
local limit = tonumber(ARGV[6])
local off = {}
local found = scan(k, ARGV[2], ARGV[3], limit, function(m)
  local ep = redis.call('HGET', key('j', m), 'e')
  if not ep or not reason_matches(ARGV[7], m) then
    return false
  end
  if off[ep] == nil then
    off[ep] = disabled(ep)
  end
  return not off[ep]
end)
local n = math.min(#found, limit)
for i = 1, n do
  local m = found[i]
  local j = key('j', m)
  local ep = redis.call('HGET', j, 'e')
  redis.call('ZREM', key('dead'), m)
  redis.call('ZREM', key('dead', ep), m)
  redis.call('HSET', j, 'n', 0, 'l', 0)
  redis.call('HDEL', j, 'r')
  schedule(m, ep, now)
end
if n > 0 then
  wake()
end
return {n, #found > limit and 1 or 0}
