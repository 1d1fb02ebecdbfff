-- complete: KEYS[1] the record. ARGV: token, retention ms, now ms ('' for the server's clock), TTL slack ms,
-- the encoded response. Returns 1, or 0 if the token does not hold the in-progress record (lease lost).
local v = redis.call('GET', KEYS[1])
if not held_by(v, ARGV[1]) then
  return 0
end
local now, retention, slack = now_ms(ARGV[3]), tonumber(ARGV[2]), tonumber(ARGV[4])
local record = string.char(1, 2) .. string.sub(v, 3, 34) .. be64(now + retention) .. ARGV[5]
redis.call('SET', KEYS[1], record, 'PX', retention + slack)
return 1
