-- $1 the caller's now, $2 now on the deadline clock (NULL: the server's), $3 max lapses, $4 at most this many.
-- Leases that lapsed before now, oldest first, skipping rows other sessions hold: each counts a lapse and is
-- due again at once, or at $3 consecutive lapses dead-letters `lease-expired`. `more`: another one is left.
WITH t AS (
    SELECT coalesce($2::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS now
),
lapsed AS (
    SELECT j.id, j.lease_until FROM {schema}.jobs j, t
    WHERE j.state = 'in_flight' AND j.lease_until < t.now
    ORDER BY j.lease_until, j.id
    LIMIT $4 + 1
    FOR UPDATE OF j SKIP LOCKED
),
moved AS (
    UPDATE {schema}.jobs j
    SET lapses = j.lapses + 1,
        state = CASE WHEN j.lapses + 1 >= $3 THEN 'dead' ELSE 'scheduled' END,
        due_at = CASE WHEN j.lapses + 1 >= $3 THEN NULL ELSE t.now END,
        finished_at = CASE WHEN j.lapses + 1 >= $3 THEN $1 END,
        token = NULL,
        lease_until = NULL
    FROM (SELECT id FROM lapsed ORDER BY lease_until, id LIMIT $4) k, t
    WHERE j.id = k.id
    RETURNING j.id, j.endpoint_id, j.state
),
buried AS (
    INSERT INTO {schema}.dead_letters (job_id, endpoint_id, dead_at, reason)
    SELECT id, endpoint_id, $1, 'lease-expired' FROM moved WHERE state = 'dead'
    ON CONFLICT (job_id) DO UPDATE SET dead_at = excluded.dead_at, reason = excluded.reason
),
woke AS (
    SELECT pg_notify('{schema}', '') FROM (SELECT 1 FROM moved WHERE state = 'scheduled' LIMIT 1) due_now
)
SELECT (SELECT count(*) FROM moved) AS n, (SELECT count(*) FROM lapsed) > $4 AS more,
       (SELECT count(*) FROM woke) AS woke
