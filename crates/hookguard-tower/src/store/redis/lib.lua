-- Shared by every script (prepended to each): the record's byte layout is hookguard-tower's `Record`
-- (version 1; byte 2 is the state: 1 in progress, 2 completed; bytes 3-34 the fingerprint; in progress:
-- 35-50 the token, 51-58 the lease deadline; completed: 35-42 the retention deadline; big-endian
-- milliseconds since the Unix epoch). Lua numbers are doubles: exact for any millisecond time below 2^53.

-- Redis's bundled `struct` library packs in C: a Lua loop over the bytes cost more than the rest of a claim.
local function i64(s, at)
  return (struct.unpack('>I8', s, at))
end

local function be64(n)
  return struct.pack('>I8', n)
end

-- The caller's time if it sent one, else the server's clock, so that replicas with skewed clocks agree.
local function now_ms(arg)
  local now = tonumber(arg)
  if now then
    return now
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The in-progress record `v` iff `token` holds it.
local function held_by(v, token)
  return v and string.len(v) == 58 and string.byte(v, 1) == 1 and string.byte(v, 2) == 1
    and string.sub(v, 35, 50) == token
end
