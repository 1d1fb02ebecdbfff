-- endpoint_states. ARGV: an endpoint, or '' for every endpoint with a state.
-- Returns {endpoint, on, paused-until, reason, changed, ...} (absent fields as nil).
local eps = ARGV[1] == '' and redis.call('SMEMBERS', key('states')) or {ARGV[1]}
local out = {}
for _, ep in ipairs(eps) do
  local f = redis.call('HMGET', key('state', ep), 'on', 'pu', 'r', 'ch')
  out[#out + 1] = {ep, f[1], f[2], f[3], f[4]}
end
return out
