-- $1 the caller's now, $2 now on the deadline clock (NULL: the server's); one element per item, in order:
-- $3 job ids, $4 tokens, $5 transitions ('ack', 'retry', 'defer', 'dead', 'release'), $6 the retry or defer
-- time (caller's frame), $7 dead-letter reasons, $8 whether to disable the endpoint, then the attempt if one
-- was made ($9 number, NULL for none; $10 at; $11 status; $12 error kind; $13 error message; $14 latency ns;
-- $15 response body). One statement for the batch: each item moves its job iff the job is in flight under
-- its token, and records its attempt and dead letter beside the move; `done` lists the items (1-based
-- positions) that moved, every other one lost its lease. One NOTIFY at most, when a job is due again at once.
WITH t AS (
    SELECT coalesce($2::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS now
),
input AS (
    SELECT * FROM unnest($3::bigint[], $4::bytea[], $5::text[], $6::bigint[], $7::text[], $8::boolean[],
                         $9::integer[], $10::bigint[], $11::integer[], $12::text[], $13::text[], $14::bigint[],
                         $15::text[])
        WITH ORDINALITY AS i(id, token, kind, at, reason, disable, number, attempt_at, status, error_kind,
                             error_message, latency_ns, response_body, ord)
),
moved AS (
    UPDATE {schema}.jobs j
    SET state = CASE i.kind WHEN 'ack' THEN 'delivered' WHEN 'dead' THEN 'dead' ELSE 'scheduled' END,
        due_at = CASE i.kind WHEN 'release' THEN t.now
                             WHEN 'retry' THEN t.now + (i.at - $1)
                             WHEN 'defer' THEN t.now + (i.at - $1) END,
        finished_at = CASE i.kind WHEN 'ack' THEN i.attempt_at WHEN 'dead' THEN $1 END,
        token = NULL,
        lease_until = NULL,
        attempts = j.attempts + (i.number IS NOT NULL)::integer,
        lapses = CASE WHEN i.number IS NOT NULL THEN 0 ELSE j.lapses END
    FROM input i, t
    WHERE j.id = i.id AND j.token = i.token AND j.state = 'in_flight'
    RETURNING i.ord, j.id, j.endpoint_id, j.state, j.due_at
),
recorded AS (
    INSERT INTO {schema}.attempts (job_id, number, at, status, error_kind, error_message, latency_ns, response_body)
    SELECT m.id, i.number, i.attempt_at, i.status, i.error_kind, i.error_message, i.latency_ns, i.response_body
    FROM moved m JOIN input i ON i.ord = m.ord
    WHERE i.number IS NOT NULL
    ORDER BY m.ord
),
buried AS (
    INSERT INTO {schema}.dead_letters (job_id, endpoint_id, dead_at, reason)
    SELECT m.id, m.endpoint_id, $1, i.reason
    FROM moved m JOIN input i ON i.ord = m.ord
    WHERE i.kind = 'dead'
    ON CONFLICT (job_id) DO UPDATE SET dead_at = excluded.dead_at, reason = excluded.reason
),
disabled AS (
    UPDATE {schema}.endpoints e
    SET state_set = true, enabled = false, reason = i.reason, changed_at = $1
    FROM moved m JOIN input i ON i.ord = m.ord
    WHERE i.disable AND e.id = m.endpoint_id
),
woke AS (
    SELECT pg_notify('{schema}', '')
    FROM (SELECT 1 FROM moved m, t WHERE m.state = 'scheduled' AND m.due_at <= t.now LIMIT 1) due_now
)
SELECT coalesce(array_agg(ord), '{}') AS done, (SELECT count(*) FROM woke) AS woke FROM moved
