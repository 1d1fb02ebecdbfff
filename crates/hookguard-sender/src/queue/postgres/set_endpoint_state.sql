-- $1 endpoint id, $2 enabled, $3 paused until, $4 reason, $5 changed at. One NOTIFY when the endpoint is now
-- open and has a job due on the server's clock (re-enabled or unpaused: its jobs may go out now).
WITH stored AS (
    INSERT INTO {schema}.endpoints AS e (id, state_set, enabled, paused_until, reason, changed_at)
    VALUES ($1, true, $2, $3, $4, $5)
    ON CONFLICT (id) DO UPDATE SET state_set = true, enabled = excluded.enabled,
        paused_until = excluded.paused_until, reason = excluded.reason, changed_at = excluded.changed_at
    RETURNING e.id
),
woke AS (
    SELECT pg_notify('{schema}', '')
    WHERE $2
      AND ($3::bigint IS NULL OR $3 <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
      AND EXISTS (
        SELECT 1 FROM {schema}.jobs
        WHERE endpoint_id = $1 AND state = 'scheduled'
          AND due_at <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint
    )
)
SELECT (SELECT count(*) FROM stored) AS stored, (SELECT count(*) FROM woke) AS woke
