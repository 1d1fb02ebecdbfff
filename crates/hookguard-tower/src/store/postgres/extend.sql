-- $1 key, $2 token, $3 lease ms, $4 now ms (NULL: the server's clock). The collection time moves with the
-- lease deadline, so the row is still kept for the retention past its new deadline.
UPDATE {schema}.records
SET lease_until = coalesce($4::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) + $3,
    expires_at = expires_at - lease_until
        + coalesce($4::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) + $3
WHERE key = $1 AND token = $2 AND state = 1
