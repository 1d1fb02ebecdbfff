-- enqueue_many. ARGV: time mode, n, then per job: endpoint, event id, type, payload, created ms, due ms.
-- Returns the job ids in order: an existing job's id for a known (endpoint, event id), in any state.
-- On the server's clock (mode 's') a job is due as long after the server's now as it was due after its
-- creation (the enqueuer's clock); its creation time is kept as given. Publishes a wake-up if a new job
-- is due now.
local mode, n = ARGV[1], tonumber(ARGV[2])
local ids, due_now = {}, false
local t = redis.call('TIME')
local server = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 0, n - 1 do
  local b = 3 + i * 6
  local ep, ev = ARGV[b], ARGV[b + 1]
  local field = ep .. '\n' .. ev
  local m = redis.call('HGET', key('events'), field)
  if not m then
    m = pad(redis.call('INCR', key('seq')))
    local created, due = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
    if mode == 's' then
      due = server + math.max(due - created, 0)
    end
    redis.call('HSET', key('events'), field, m)
    redis.call('HSET', key('j', m), 'e', ep, 'v', ev, 't', ARGV[b + 2], 'p', ARGV[b + 3], 'c', created,
      'n', 0, 'l', 0, 's', 's', 'a', due, 'k', '')
    index_due(m, ep, due, created)
    if due <= created or due <= server then
      due_now = true
    end
  end
  ids[#ids + 1] = tonumber(m)
end
if due_now then
  wake()
end
return ids
