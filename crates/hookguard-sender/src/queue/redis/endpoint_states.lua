-- endpoint_states. ARGV: one endpoint, or every endpoint with a state (see `endpoint_arg`).
-- Returns {endpoint, on, paused-until, reason, changed, ...} (absent fields as nil).
local one = endpoint_arg(ARGV[1])
local eps = one and {one} or redis.call('SMEMBERS', key('states'))
local out = {}
for _, ep in ipairs(eps) do
  local f = redis.call('HMGET', key('state', ep), 'on', 'pu', 'r', 'ch')
  out[#out + 1] = {ep, f[1], f[2], f[3], f[4]}
end
return out
