-- wrk script for examples/load_receiver.rs: POSTs one 1 KiB body with pre-signed, unique Standard Webhooks
-- headers. Usage: wrk -tT ... -s examples/load_signed.lua URL -- requests.txt T
-- Thread k of T sends lines k, k+T, k+2T, ... so ids are unique across threads (until a thread runs out of
-- lines and wraps, which the summary reports: wrapped requests are replays).
local body = '{"data":"' .. string.rep("a", 1011) .. '"}'
local head = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: " .. #body .. "\r\n"
local threads = {}
lines, idx, wrapped = {}, 0, 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local total = tonumber(args[2] or "1")
  local i = 0
  for line in io.lines(args[1]) do
    if i % total == tid then
      local id, ts, sig = line:match("(%S+) (%S+) (%S+)")
      lines[#lines + 1] = "webhook-id: " .. id .. "\r\nwebhook-timestamp: " .. ts .. "\r\nwebhook-signature: " .. sig .. "\r\n"
    end
    i = i + 1
  end
end

function request()
  idx = idx + 1
  if idx > #lines then
    idx, wrapped = 1, wrapped + 1
  end
  -- Hand-built rather than wrk.format: the client must stay cheaper than the server it measures.
  return head .. lines[idx] .. "\r\n" .. body
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("thread %d: at line %d, wrapped %d times\n", t:get("tid"), t:get("idx"), t:get("wrapped")))
  end
  io.write(string.format("non-2xx or 3xx responses: %d\n", summary.errors.status))
end
