-- lease. ARGV: now ms, time mode, max, lease ms, tokens (16 bytes each, at least max of them), default cap
-- (-1: none), the number of excluded endpoints, those endpoints, the number of capped endpoints, then
-- endpoint, cap pairs.
-- Walks the ready set (one member per endpoint, by its earliest due job): an excluded endpoint costs one
-- step however long its backlog. Round-robin across the first `max` endpoints that may give, each
-- endpoint's due jobs in order.
-- Returns {has next_due, next_due, members visited, then per leased job: id, endpoint, event id, type,
-- payload, created ms, attempts}; job i has token i.
local now = clock(ARGV[1], ARGV[2])
local max, lease_ms, tokens = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local default_cap = tonumber(ARGV[6])
if default_cap < 0 then
  default_cap = math.huge
end
local excluded, caps = {}, {}
local i = 7
for _ = 1, tonumber(ARGV[i]) do
  i = i + 1
  excluded[ARGV[i]] = true
end
i = i + 1
for _ = 1, tonumber(ARGV[i]) do
  caps[ARGV[i + 1]] = tonumber(ARGV[i + 2])
  i = i + 2
end
local function cap_of(ep)
  if excluded[ep] then
    return 0
  end
  return caps[ep] or default_cap
end

local visited = 0
-- The first `max` endpoints with due work that may give some, in ready order (each has a due job: its
-- ready score is its earliest).
local candidates, offset = {}, 0
while #candidates < max do
  local chunk = redis.call('ZRANGEBYSCORE', key('ready'), '-inf', now, 'LIMIT', offset, 128)
  if #chunk == 0 then
    break
  end
  offset = offset + #chunk
  for _, ep in ipairs(chunk) do
    visited = visited + 1
    local cap = cap_of(ep)
    if cap > 0 then
      candidates[#candidates + 1] = {ep = ep, cap = cap, due = {}, pos = 0, last = false, taken = {}}
      if #candidates == max then
        break
      end
    end
  end
end

-- Round-robin: one job from each candidate in turn until `max` or nothing is left. Each endpoint's due
-- jobs are read a page at a time (about its share of `max`), so a call reads about `max` members, not
-- every candidate's cap.
local picked = {}
local share = math.ceil(max / math.max(#candidates, 1))
local function refill(c)
  local want = math.min(c.cap - #c.taken, max - #picked, share)
  c.due = redis.call('ZRANGEBYSCORE', key('due', c.ep), '-inf', now, 'LIMIT', #c.taken, want)
  c.pos = 0
  c.last = #c.due < want
  visited = visited + #c.due
end
local active = candidates
while #picked < max and #active > 0 do
  local still = {}
  for _, c in ipairs(active) do
    if #picked == max then
      break
    end
    if c.pos == #c.due and not c.last then
      refill(c)
    end
    if c.pos < #c.due then
      c.pos = c.pos + 1
      local m = c.due[c.pos]
      c.taken[#c.taken + 1] = m
      picked[#picked + 1] = {m, c.ep}
      if #c.taken < c.cap and (c.pos < #c.due or not c.last) then
        still[#still + 1] = c
      end
    end
  end
  active = still
end

local until_ms = now + lease_ms
local reply = {0, 0, 0}
local members, flight = {}, {}
for n, p in ipairs(picked) do
  local m, ep = p[1], p[2]
  local j = key('j', m)
  members[n] = m
  flight[2 * n - 1], flight[2 * n] = until_ms, m
  redis.call('HSET', j, 's', 'f', 'a', until_ms, 'k', string.sub(tokens, (n - 1) * 16 + 1, n * 16))
  local f = redis.call('HMGET', j, 'v', 't', 'p', 'c', 'n')
  reply[#reply + 1] = tonumber(m)
  reply[#reply + 1] = ep
  for _, v in ipairs(f) do
    reply[#reply + 1] = v
  end
end
bulk('ZREM', key('created'), members)
bulk('ZADD', key('flight'), flight)

-- Take the leased jobs out of their endpoints' due sets and re-index those endpoints; note those whose cap
-- this call used up.
local spent = {}
for _, c in ipairs(candidates) do
  if #c.taken > 0 then
    bulk('ZREM', key('due', c.ep), c.taken)
    set_head(c.ep)
  end
  if #c.taken >= c.cap then
    spent[c.ep] = true
  end
end

-- next_due: the earliest endpoint that is neither excluded, capped at zero, nor spent.
offset = 0
while reply[1] == 0 do
  local chunk = redis.call('ZRANGE', key('ready'), offset, offset + 127, 'WITHSCORES')
  if #chunk == 0 then
    break
  end
  offset = offset + #chunk / 2
  for k = 1, #chunk, 2 do
    visited = visited + 1
    local ep = chunk[k]
    if cap_of(ep) > 0 and not spent[ep] then
      reply[1], reply[2] = 1, tonumber(chunk[k + 1])
      break
    end
  end
end
reply[3] = visited
return reply
