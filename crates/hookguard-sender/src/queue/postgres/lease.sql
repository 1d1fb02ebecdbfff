-- $1 the caller's now, $2 now on the deadline clock (NULL: the server's), $3 at most this many jobs,
-- $4 lease ms, $5 excluded endpoints, $6/$7 endpoints with their own cap and the caps, $8 the cap of the others.
-- Driven from the endpoint table: each endpoint that is neither excluded nor capped at zero gives at most
-- its cap of due jobs in (due_at, id) order through the partial index `jobs_due`, skipping rows other leasers
-- hold; the picks are dealt round-robin (first jobs of every endpoint, ordered by each endpoint's oldest due
-- job, then the second ones, …) up to $3, and leased with fresh tokens. `next_due` (in the caller's frame):
-- the earliest scheduled job left in an endpoint whose cap this call did not use up. Always one row at least;
-- `id` is NULL when nothing was leased.
WITH t AS (
    SELECT coalesce($2::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS now
),
caps AS (
    SELECT * FROM unnest($6::text[], $7::bigint[]) AS c(endpoint_id, cap)
),
candidates AS MATERIALIZED (
    SELECT e.id AS endpoint_id, coalesce(c.cap, $8) AS cap
    FROM {schema}.endpoints e LEFT JOIN caps c ON c.endpoint_id = e.id
    WHERE e.id <> ALL ($5::text[]) AND coalesce(c.cap, $8) > 0
),
picked AS (
    SELECT j.id, j.endpoint_id,
           row_number() OVER w AS turn, first_value(j.due_at) OVER w AS head_due, first_value(j.id) OVER w AS head_id
    FROM candidates c CROSS JOIN t CROSS JOIN LATERAL (
        SELECT id, endpoint_id, due_at FROM {schema}.jobs
        WHERE endpoint_id = c.endpoint_id AND state = 'scheduled' AND due_at <= t.now
        ORDER BY due_at, id
        LIMIT least(c.cap, $3)
        FOR UPDATE SKIP LOCKED
    ) j
    WINDOW w AS (PARTITION BY j.endpoint_id ORDER BY j.due_at, j.id)
),
chosen AS MATERIALIZED (
    SELECT id, endpoint_id, ord FROM (
        SELECT id, endpoint_id, row_number() OVER (ORDER BY turn, head_due, head_id) AS ord FROM picked
    ) dealt
    WHERE ord <= $3
),
leased AS (
    UPDATE {schema}.jobs j
    SET state = 'in_flight', due_at = NULL, token = uuid_send(gen_random_uuid()), lease_until = t.now + $4
    FROM chosen c, t
    WHERE j.id = c.id
    RETURNING j.id, j.endpoint_id, j.event_id, j.event_type, j.payload, j.created_at, j.attempts, j.token
),
taken AS (
    SELECT endpoint_id, count(*) AS n FROM chosen GROUP BY endpoint_id
),
next AS (
    SELECT min(left_over.due_at) AS next_due
    FROM candidates c LEFT JOIN taken k ON k.endpoint_id = c.endpoint_id CROSS JOIN LATERAL (
        SELECT due_at FROM {schema}.jobs
        WHERE endpoint_id = c.endpoint_id AND state = 'scheduled' AND id NOT IN (SELECT id FROM chosen)
        ORDER BY due_at, id
        LIMIT 1
    ) left_over
    WHERE coalesce(k.n, 0) < c.cap
)
SELECT n.next_due - (SELECT now FROM t) + $1 AS next_due,
       l.id, l.endpoint_id, l.event_id, l.event_type, l.payload, l.created_at, l.attempts, l.token
FROM next n LEFT JOIN (leased l JOIN chosen c ON c.id = l.id) ON true
ORDER BY c.ord
