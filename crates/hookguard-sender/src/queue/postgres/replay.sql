-- $1 the caller's now, $2 now on the deadline clock (NULL: the server's), $3 job id. A dead job of an
-- enabled endpoint is due again at once with a fresh attempt budget (its history is kept). No row: not dead;
-- `enabled` false: its endpoint is disabled and nothing changed. One NOTIFY when it moved.
WITH t AS (
    SELECT coalesce($2::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS now
),
target AS (
    SELECT j.id, j.endpoint_id, coalesce(e.enabled, true) AS enabled
    FROM {schema}.jobs j LEFT JOIN {schema}.endpoints e ON e.id = j.endpoint_id
    WHERE j.id = $3 AND j.state = 'dead'
    FOR UPDATE OF j
),
moved AS (
    UPDATE {schema}.jobs j
    SET state = 'scheduled', due_at = t.now, finished_at = NULL, attempts = 0, lapses = 0
    FROM target k, t
    WHERE j.id = k.id AND k.enabled
    RETURNING j.id
),
revived AS (
    DELETE FROM {schema}.dead_letters WHERE job_id IN (SELECT id FROM moved)
),
woke AS (
    SELECT pg_notify('{schema}', '') FROM moved
)
SELECT k.endpoint_id, k.enabled, (SELECT count(*) FROM woke) AS woke FROM target k
