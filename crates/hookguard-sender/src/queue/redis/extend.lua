-- extend. ARGV: now ms, time mode, job id (padded), token, new lease deadline ms.
-- Returns 1, or 0 if the token does not hold the in-flight job (a lapsed but unreaped lease still does).
local _, off = clock(ARGV[1], ARGV[2])
local m, token = ARGV[3], ARGV[4]
local j = key('j', m)
local f = redis.call('HMGET', j, 's', 'k')
if f[1] ~= 'f' or f[2] ~= token then
  return 0
end
local until_ms = tonumber(ARGV[5]) + off
redis.call('HSET', j, 'a', until_ms)
redis.call('ZADD', key('flight'), until_ms, m)
return 1
