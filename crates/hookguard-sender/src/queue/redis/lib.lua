-- Shared by every script (prepended to each). KEYS[1] is the queue's root, `{prefix}`: every key below is
-- built from it, so all of them hash to the one Cluster slot of its tag (as BullMQ's scripts do).
--
-- Keys (P = KEYS[1]; M = a job id zero-padded to 20 digits, so equal scores sort in id = FIFO order):
--   P:seq            INCR counter of job ids
--   P:j:M            hash, the job: e endpoint, v event id, t type, p payload, c created ms, n attempts,
--                    l consecutive lapses, s state (s scheduled, f in flight, x delivered, d dead),
--                    a the state's time (due / lease deadline / delivered / dead-lettered), k lease token,
--                    r dead-letter reason
--   P:h:M            list, the job's attempts (encoded by the Rust side), oldest first
--   P:due:EP         zset M by due ms: one endpoint's scheduled jobs
--   P:ready          zset EP by the due ms of its earliest scheduled job (leasing walks this, never a backlog)
--   P:created        zset M by created ms: scheduled jobs (for expire)
--   P:flight         zset M by lease deadline (for the reaper)
--   P:delivered      zset M by delivered ms (for prune)
--   P:dead           zset M by dead-letter ms; P:dead:EP the same per endpoint (for filtered listings)
--   P:events         hash "EP\nEVENT" -> M, every stored job in any state (dedupe)
--   P:state:EP       hash, endpoint state: on 1|0, pu paused-until ms, r reason, ch changed ms
--   P:states         set of the endpoints with a state
--   P:eps            set of the endpoints that were ever given a job (per-endpoint stats walk it)
--   P:wake           pub/sub channel: new due work
-- Times are milliseconds since the Unix epoch; Lua numbers are doubles, exact below 2^53.

local P = KEYS[1]

local function key(...)
  return P .. ':' .. table.concat({...}, ':')
end

local function pad(id)
  return string.format('%020d', id)
end

-- `now` and the offset to add to the caller's absolute times: the caller's clock ('c'), or the server's
-- ('s'), in which case times the caller computed from its own `now` are moved by the difference.
local function clock(caller, mode)
  local now = tonumber(caller)
  if mode == 's' then
    local t = redis.call('TIME')
    local server = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    return server, server - now
  end
  return now, 0
end

-- Re-indexes `ep` in the ready set by its earliest scheduled job (or removes it).
local function set_head(ep)
  local head = redis.call('ZRANGE', key('due', ep), 0, 0, 'WITHSCORES')
  if head[1] then
    redis.call('ZADD', key('ready'), head[2], ep)
  else
    redis.call('ZREM', key('ready'), ep)
  end
end

-- Removes job `m` of endpoint `ep` from the indexes of its state (scheduled or in flight).
local function leave(m, st, ep)
  if st == 's' then
    redis.call('ZREM', key('due', ep), m)
    redis.call('ZREM', key('created'), m)
    set_head(ep)
  elseif st == 'f' then
    redis.call('ZREM', key('flight'), m)
  end
end

-- Indexes job `m`, whose hash already says it is scheduled at `at`, in the due, creation and ready sets.
local function index_due(m, ep, at, created)
  redis.call('ZADD', key('due', ep), at, m)
  redis.call('ZADD', key('created'), created, m)
  local score = redis.call('ZSCORE', key('ready'), ep)
  if not score or at < tonumber(score) then
    redis.call('ZADD', key('ready'), at, ep)
  end
end

-- Schedules job `m` (not in any index) at `at`.
local function schedule(m, ep, at)
  local j = key('j', m)
  redis.call('HSET', j, 's', 's', 'a', at, 'k', '')
  index_due(m, ep, at, redis.call('HGET', j, 'c'))
end

-- Dead-letters job `m` (not in any index) at `now`.
local function kill(m, ep, now, reason)
  redis.call('HSET', key('j', m), 's', 'd', 'a', now, 'r', reason, 'k', '')
  redis.call('ZADD', key('dead'), now, m)
  redis.call('ZADD', key('dead', ep), now, m)
end

-- A reason filter argument: '' for any reason, or '=' followed by the reason's text. Returns whether job `m`
-- was dead-lettered for it.
local function reason_matches(arg, m)
  return arg == '' or redis.call('HGET', key('j', m), 'r') == string.sub(arg, 2)
end

-- Whether `ep` is disabled.
local function disabled(ep)
  return redis.call('HGET', key('state', ep), 'on') == '0'
end

-- Deletes job `m` and its history and event-id entry (from no index but `delivered` / `dead`).
local function delete(m)
  local j = key('j', m)
  local f = redis.call('HMGET', j, 'e', 'v')
  if f[1] and f[2] then
    redis.call('HDEL', key('events'), f[1] .. '\n' .. f[2])
  end
  redis.call('DEL', j, key('h', m))
end

-- A job as the Rust side reads it: {id, e, v, t, p, c, n, s, a, r, attempts}.
local function record(m)
  local f = redis.call('HMGET', key('j', m), 'e', 'v', 't', 'p', 'c', 'n', 's', 'a', 'r')
  return {tonumber(m), f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9],
    redis.call('LRANGE', key('h', m), 0, -1)}
end

-- `redis.call(cmd, k, items...)` in chunks of at most 1000 items (`unpack` has a stack limit); the chunks'
-- even length keeps score/member pairs together.
local function bulk(cmd, k, items)
  for i = 1, #items, 1000 do
    redis.call(cmd, k, unpack(items, i, math.min(i + 999, #items)))
  end
end

-- An endpoint filter argument: '' for every endpoint, or '=' followed by one endpoint's id (which may be
-- anything, even empty). Returns the id, or nil for all.
local function endpoint_arg(arg)
  if arg == '' then
    return nil
  end
  return string.sub(arg, 2)
end

local function wake()
  redis.call('PUBLISH', key('wake'), '1')
end

-- Members of zset `k` with `min <= score <= max` (Redis range syntax), in order, for which `keep(m, score)`
-- holds: at most `limit + 1` of them (so the caller knows whether there are more).
local function scan(k, min, max, limit, keep)
  local out, offset = {}, 0
  while #out <= limit do
    local chunk = redis.call('ZRANGEBYSCORE', k, min, max, 'WITHSCORES', 'LIMIT', offset, 256)
    if #chunk == 0 then
      break
    end
    for i = 1, #chunk, 2 do
      local m, score = chunk[i], tonumber(chunk[i + 1])
      if keep(m, score) then
        out[#out + 1] = m
        if #out > limit then
          break
        end
      end
    end
    offset = offset + #chunk / 2
  end
  return out
end
