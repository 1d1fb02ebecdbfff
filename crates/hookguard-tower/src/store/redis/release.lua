-- release: KEYS[1] the record. ARGV: token. Deletes the record iff the token holds it in progress (a
-- completed record is never released). Returns 1 if it deleted.
if held_by(redis.call('GET', KEYS[1]), ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
