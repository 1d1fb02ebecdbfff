-- enqueue_many. ARGV: time mode, n, then per job: endpoint, event id, type, payload, created ms, due ms.
-- Returns the job ids in order: an existing job's id for a known (endpoint, event id), in any state; equal
-- keys in one call are one job. On the server's clock (mode 's') a job is due as long after the server's
-- now as it was due after its creation (the enqueuer's clock); its creation time is kept as given.
-- Publishes a wake-up if a new job is due now. The indexes are written once per call (per endpoint for
-- the due sets), so a fan-out costs about one call per job.
local mode, n = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local server = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local fields = {}
for i = 1, n do
  local b = 3 + (i - 1) * 6
  fields[i] = ARGV[b] .. '\n' .. ARGV[b + 1]
end
local known = {}
for c = 1, n, 1000 do
  local got = redis.call('HMGET', key('events'), unpack(fields, c, math.min(c + 999, n)))
  for k = 1, #got do
    if got[k] then
      known[fields[c + k - 1]] = got[k]
    end
  end
end
local fresh, count = {}, 0
for i = 1, n do
  local f = fields[i]
  if not known[f] and not fresh[f] then
    fresh[f] = true
    count = count + 1
  end
end
local next_id = 0
if count > 0 then
  next_id = redis.call('INCRBY', key('seq'), count) - count
end

local ids, events, created_set, due_sets, due_now = {}, {}, {}, {}, false
for i = 1, n do
  local f = fields[i]
  local m = known[f]
  if not m then
    next_id = next_id + 1
    m = pad(next_id)
    known[f] = m
    local b = 3 + (i - 1) * 6
    local ep = ARGV[b]
    local created, due = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
    if mode == 's' then
      due = server + math.max(due - created, 0)
    end
    redis.call('HSET', key('j', m), 'e', ep, 'v', ARGV[b + 1], 't', ARGV[b + 2], 'p', ARGV[b + 3],
      'c', created, 'n', 0, 'l', 0, 's', 's', 'a', due, 'k', '')
    events[#events + 1] = f
    events[#events + 1] = m
    created_set[#created_set + 1] = created
    created_set[#created_set + 1] = m
    local d = due_sets[ep]
    if not d then
      d = {items = {}, min = due}
      due_sets[ep] = d
    end
    d.items[#d.items + 1] = due
    d.items[#d.items + 1] = m
    if due < d.min then
      d.min = due
    end
    if due <= created or due <= server then
      due_now = true
    end
  end
  ids[i] = tonumber(m)
end
bulk('HSET', key('events'), events)
bulk('ZADD', key('created'), created_set)
for ep, d in pairs(due_sets) do
  redis.call('SADD', key('eps'), ep)
  bulk('ZADD', key('due', ep), d.items)
  local score = redis.call('ZSCORE', key('ready'), ep)
  if not score or d.min < tonumber(score) then
    redis.call('ZADD', key('ready'), d.min, ep)
  end
end
if due_now then
  wake()
end
return ids
