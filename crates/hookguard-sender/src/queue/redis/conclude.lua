-- conclude. ARGV: now ms, time mode, n, then per item: job id (padded), token, transition (a ack, r
-- retry-at, f defer, d dead-letter, l release), a time ms (ack: the attempt's start; retry-at, defer: when
-- due), the encoded attempt ('' if none), the dead-letter reason, '1' to disable the endpoint.
-- Each item whose token holds its in-flight job moves it and records its attempt; the others change
-- nothing. Returns one 1 (done) or 0 (lease lost) per item. Publishes a wake-up for released jobs.
local now, off = clock(ARGV[1], ARGV[2])
local out, released = {}, false
-- Every concluded job leaves the in-flight set, delivered ones enter the delivered set: one call each.
local gone, delivered = {}, {}
for i = 0, tonumber(ARGV[3]) - 1 do
  local b = 4 + i * 7
  local m, token, kind, at, attempt = ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3]), ARGV[b + 4]
  local j = key('j', m)
  local f = redis.call('HMGET', j, 's', 'k', 'e', 'n')
  if f[1] ~= 'f' or f[2] ~= token then
    out[#out + 1] = 0
  else
    local ep, spent = f[3], tonumber(f[4]) or 0
    gone[#gone + 1] = m
    if attempt ~= '' then
      redis.call('RPUSH', key('h', m), attempt)
      spent = spent + 1
    end
    if kind == 'a' then
      redis.call('HSET', j, 's', 'x', 'a', at, 'k', '', 'l', 0, 'n', spent)
      delivered[#delivered + 1] = at
      delivered[#delivered + 1] = m
    else
      if attempt ~= '' then
        redis.call('HSET', j, 'l', 0, 'n', spent)
      end
      if kind == 'r' or kind == 'f' then
        schedule(m, ep, at + off)
      elseif kind == 'l' then
        schedule(m, ep, now)
        released = true
      else
        local reason = ARGV[b + 5]
        kill(m, ep, now, reason)
        if ARGV[b + 6] == '1' then
          redis.call('HSET', key('state', ep), 'on', '0', 'r', reason, 'ch', now)
          redis.call('SADD', key('states'), ep)
        end
      end
    end
    out[#out + 1] = 1
  end
end
bulk('ZREM', key('flight'), gone)
bulk('ZADD', key('delivered'), delivered)
if released then
  wake()
end
return out
