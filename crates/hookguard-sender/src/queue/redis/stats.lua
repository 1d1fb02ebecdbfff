-- stats. ARGV: now ms, time mode. Returns {due, scheduled later, in flight, dead}: one ZCOUNT per endpoint
-- with scheduled jobs.
local now = clock(ARGV[1], ARGV[2])
local due = 0
for _, ep in ipairs(redis.call('ZRANGE', key('ready'), 0, -1)) do
  due = due + redis.call('ZCOUNT', key('due', ep), '-inf', now)
end
local scheduled = redis.call('ZCARD', key('created'))
return {due, scheduled - due, redis.call('ZCARD', key('flight')), redis.call('ZCARD', key('dead'))}
