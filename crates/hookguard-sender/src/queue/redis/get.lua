-- get. ARGV: job id (padded). Returns the job's record (see `record`), or {} if there is none.
if redis.call('EXISTS', key('j', ARGV[1])) == 0 then
  return {}
end
return record(ARGV[1])
