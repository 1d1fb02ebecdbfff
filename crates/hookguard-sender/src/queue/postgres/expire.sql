-- $1 the caller's now, $2 created before this (caller's frame), $3 at most this many.
-- Scheduled jobs created before $2, oldest first, dead-letter `expired`.
WITH old AS (
    SELECT id, created_at FROM {schema}.jobs
    WHERE state = 'scheduled' AND lapses >= 0 AND created_at < $2  -- the predicate of `jobs_created`
    ORDER BY created_at, id
    LIMIT $3 + 1
    FOR UPDATE SKIP LOCKED
),
moved AS (
    UPDATE {schema}.jobs j
    SET state = 'dead', due_at = NULL, finished_at = $1
    FROM (SELECT id FROM old ORDER BY created_at, id LIMIT $3) k
    WHERE j.id = k.id
    RETURNING j.id, j.endpoint_id
),
buried AS (
    INSERT INTO {schema}.dead_letters (job_id, endpoint_id, dead_at, reason)
    SELECT id, endpoint_id, $1, 'expired' FROM moved
    ON CONFLICT (job_id) DO UPDATE SET dead_at = excluded.dead_at, reason = excluded.reason
)
SELECT (SELECT count(*) FROM moved) AS n, (SELECT count(*) FROM old) > $3 AS more
