-- endpoint_stats. ARGV: now ms, time mode. Returns {endpoint, due, scheduled later, in flight, dead} for each
-- endpoint in P:eps (zero counts included: the caller drops them). In-flight jobs are counted by reading
-- each one's endpoint, so the call walks the in-flight set once: as many jobs as all workers' slots.
local now = clock(ARGV[1], ARGV[2])
local flight = {}
for _, m in ipairs(redis.call('ZRANGE', key('flight'), 0, -1)) do
  local ep = redis.call('HGET', key('j', m), 'e')
  if ep then
    flight[ep] = (flight[ep] or 0) + 1
  end
end
local out = {}
for _, ep in ipairs(redis.call('SMEMBERS', key('eps'))) do
  local d = key('due', ep)
  local due = redis.call('ZCOUNT', d, '-inf', now)
  out[#out + 1] = {ep, due, redis.call('ZCARD', d) - due, flight[ep] or 0, redis.call('ZCARD', key('dead', ep))}
end
return out
