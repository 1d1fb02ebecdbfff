-- claim: KEYS[1] the record. ARGV: fingerprint (32 bytes), new token (16 bytes), lease ms, retention ms,
-- now ms ('' for the server's clock), TTL slack ms, a value known to be corrupt ('' if none).
-- Returns {code, n, corrupt, value}: code 0 acquired (n = 1 if a lapsed lease was taken over), 1 in
-- progress (n = ms left on the lease), 2 completed (value = the record), 3 mismatch.
local now = now_ms(ARGV[5])
local lease, retention, slack = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6])
local record = string.char(1, 1) .. ARGV[1] .. ARGV[2] .. be64(now + lease)
-- A fresh key, the common case, costs one command.
if redis.call('SET', KEYS[1], record, 'NX', 'PX', lease + retention + slack) then
  return {0, 0, 0, ''}
end
local v = redis.call('GET', KEYS[1])
local took_over, corrupt = 0, 0
if v then
  local len = string.len(v)
  local state = len >= 45 and string.byte(v, 1) == 1 and string.byte(v, 2)
  if v == ARGV[7] then
    corrupt = 1
  elseif state == 1 and len == 58 then
    local lease_until = i64(v, 51)
    if lease_until > now then
      if string.sub(v, 3, 34) ~= ARGV[1] then
        return {3, 0, 0, ''}
      end
      return {1, lease_until - now, 0, ''}
    end
    took_over = 1
  elseif state == 2 then
    if i64(v, 35) > now then
      if string.sub(v, 3, 34) ~= ARGV[1] then
        return {3, 0, 0, ''}
      end
      return {2, 0, 0, v}
    end
  else
    corrupt = 1
  end
end
redis.call('SET', KEYS[1], record, 'PX', lease + retention + slack)
return {0, took_over, corrupt, ''}
