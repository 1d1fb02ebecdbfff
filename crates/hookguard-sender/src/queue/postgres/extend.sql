-- $1 the caller's now, $2 now on the deadline clock (NULL: the server's), $3 job id, $4 token, $5 the new
-- deadline (caller's frame: kept as the same distance from now on the deadline clock).
UPDATE {schema}.jobs
SET lease_until = coalesce($2::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) + ($5 - $1)
WHERE id = $3 AND token = $4 AND state = 'in_flight'
