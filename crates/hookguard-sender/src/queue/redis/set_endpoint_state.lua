-- set_endpoint_state. ARGV: endpoint, on (1|0), paused-until ms (''), reason (''), changed ms (''), and
-- '1' if the reason is set (it may be empty). Stores the state whole and publishes a wake-up (the
-- endpoint's jobs may be due now).
local k = key('state', ARGV[1])
redis.call('DEL', k)
redis.call('HSET', k, 'on', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', k, 'pu', ARGV[3])
end
if ARGV[6] == '1' then
  redis.call('HSET', k, 'r', ARGV[4])
end
if ARGV[5] ~= '' then
  redis.call('HSET', k, 'ch', ARGV[5])
end
redis.call('SADD', key('states'), ARGV[1])
wake()
return 1
