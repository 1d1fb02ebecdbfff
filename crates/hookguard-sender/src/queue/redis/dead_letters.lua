-- dead_letters. ARGV: endpoint filter (see `endpoint_arg`), min score, max score (Redis range syntax: the
-- time filter, min raised to the cursor's time), the cursor's time and id (padded) ('' and '' for none),
-- limit, reason filter (see `reason_matches`).
-- Returns {1 if there are more, then up to `limit` records}, oldest first, ties in id order.
local only = endpoint_arg(ARGV[1])
local k = only and key('dead', only) or key('dead')
local after_score, after_m = tonumber(ARGV[4]), ARGV[5]
local limit = tonumber(ARGV[6])
local found = scan(k, ARGV[2], ARGV[3], limit, function(m, score)
  return (after_m == '' or score > after_score or m > after_m) and reason_matches(ARGV[7], m)
end)
local out = {#found > limit and 1 or 0}
for i = 1, math.min(#found, limit) do
  out[#out + 1] = record(found[i])
end
return out
