-- extend: KEYS[1] the record. ARGV: token, lease ms, now ms ('' for the server's clock), TTL slack ms.
-- Moves the lease deadline, and the key's TTL by as much, so the record is still kept for the retention
-- past its new deadline. Returns 1, or 0 if the token does not hold the in-progress record.
local v = redis.call('GET', KEYS[1])
if not held_by(v, ARGV[1]) then
  return 0
end
local now, lease, slack = now_ms(ARGV[3]), tonumber(ARGV[2]), tonumber(ARGV[4])
local lease_until = now + lease
local ttl = redis.call('PTTL', KEYS[1]) + (lease_until - i64(v, 51))
if ttl < lease + slack then
  ttl = lease + slack
end
redis.call('SET', KEYS[1], string.sub(v, 1, 50) .. be64(lease_until), 'PX', ttl)
return 1
