-- $1 now ms (NULL: the server's clock), $2 at most this many rows. Skips rows other sessions hold.
DELETE FROM {schema}.records
WHERE key IN (
    SELECT key FROM {schema}.records
    WHERE expires_at <= coalesce($1::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
