-- $1 key, $2 token, $3 response, $4 retention ms, $5 now ms (NULL: the server's clock).
UPDATE {schema}.records
SET state = 2, token = NULL, taken_over = false, response = $3,
    expires_at = coalesce($5::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) + $4
WHERE key = $1 AND token = $2 AND state = 1
