-- $1 endpoint ids, $2 event ids, $3 event types, $4 payloads, $5 created_at ms, $6 due_at ms (one element per
-- job, in order); $7 whether to keep deadlines on the server's clock (then each job is due at the server's
-- `now` plus its delay, due_at - created_at). Returns the ids in the order given.
-- A key already stored (any state, dead included) or given twice returns the one job: the no-op DO UPDATE
-- makes RETURNING give the existing row even when a concurrent enqueue committed it after this statement
-- began. Every endpoint with a job has a row in `endpoints` (leasing is driven from there). One NOTIFY at
-- most, when a job is due at once.
WITH t AS (
    SELECT CASE WHEN $7 THEN (extract(epoch FROM clock_timestamp()) * 1000)::bigint END AS server_now
),
input AS (
    SELECT i.*,
           CASE WHEN t.server_now IS NULL THEN i.due_at
                ELSE t.server_now + (i.due_at - i.created_at) END AS due
    FROM t, unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint[], $6::bigint[])
        WITH ORDINALITY AS i(endpoint_id, event_id, event_type, payload, created_at, due_at, ord)
),
known AS (
    INSERT INTO {schema}.endpoints (id)
    SELECT DISTINCT endpoint_id FROM input ORDER BY 1
    ON CONFLICT (id) DO NOTHING
),
stored AS (
    INSERT INTO {schema}.jobs AS j (endpoint_id, event_id, event_type, payload, created_at, state, due_at)
    SELECT DISTINCT ON (endpoint_id, event_id)
           endpoint_id, event_id, event_type, payload, created_at, 'scheduled', due
    FROM input
    ORDER BY endpoint_id, event_id, ord
    ON CONFLICT (endpoint_id, event_id) DO UPDATE SET event_id = excluded.event_id
    RETURNING j.id, j.endpoint_id, j.event_id, j.state
),
woke AS (
    SELECT pg_notify('{schema}', '')
    FROM (
        SELECT 1 FROM input i JOIN stored s ON s.endpoint_id = i.endpoint_id AND s.event_id = i.event_id
        WHERE s.state = 'scheduled' AND i.due_at <= i.created_at
        LIMIT 1
    ) due_now
)
SELECT coalesce(array_agg(s.id ORDER BY i.ord), '{}') AS ids, (SELECT count(*) FROM woke) AS woke
FROM input i JOIN stored s ON s.endpoint_id = i.endpoint_id AND s.event_id = i.event_id
