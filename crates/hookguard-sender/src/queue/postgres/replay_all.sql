-- $1 the caller's now, $2 now on the deadline clock (NULL: the server's), $3 endpoint (NULL: all), $4 dead
-- at or after, $5 dead before (NULL: any), $6 at most this many, $7 reason (NULL: any). Replays dead letters
-- of enabled endpoints, oldest first; `disabled`: $3 names a disabled endpoint, and nothing changed. One
-- NOTIFY at most.
WITH t AS (
    SELECT coalesce($2::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS now
),
named AS (
    SELECT NOT enabled AS disabled FROM {schema}.endpoints WHERE id = $3
),
old AS (
    SELECT d.job_id, d.dead_at
    FROM {schema}.dead_letters d JOIN {schema}.endpoints e ON e.id = d.endpoint_id
    WHERE e.enabled
      AND ($3::text IS NULL OR d.endpoint_id = $3)
      AND ($4::bigint IS NULL OR d.dead_at >= $4)
      AND ($5::bigint IS NULL OR d.dead_at < $5)
      AND ($7::text IS NULL OR d.reason = $7)
      AND NOT EXISTS (SELECT 1 FROM named WHERE disabled)
    ORDER BY d.dead_at, d.job_id
    LIMIT $6 + 1
    FOR UPDATE OF d SKIP LOCKED
),
moved AS (
    UPDATE {schema}.jobs j
    SET state = 'scheduled', due_at = t.now, finished_at = NULL, attempts = 0, lapses = 0
    FROM (SELECT job_id FROM old ORDER BY dead_at, job_id LIMIT $6) k, t
    WHERE j.id = k.job_id AND j.state = 'dead'
    RETURNING j.id
),
revived AS (
    DELETE FROM {schema}.dead_letters WHERE job_id IN (SELECT id FROM moved)
),
woke AS (
    SELECT pg_notify('{schema}', '') FROM (SELECT 1 FROM moved LIMIT 1) due_now
)
SELECT coalesce((SELECT disabled FROM named), false) AS disabled, (SELECT count(*) FROM moved) AS n,
       (SELECT count(*) FROM old) > $6 AS more, (SELECT count(*) FROM woke) AS woke
