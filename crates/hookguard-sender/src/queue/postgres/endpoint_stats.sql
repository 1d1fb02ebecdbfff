-- $1 now on the deadline clock (NULL: the server's). Counts per endpoint with live or dead jobs, in id order;
-- each branch reads one partial index or the dead-letter table, never the finished jobs.
WITH t AS (
    SELECT coalesce($1::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS now
),
counts AS (
    SELECT j.endpoint_id, count(*) FILTER (WHERE j.due_at <= t.now) AS due,
           count(*) FILTER (WHERE j.due_at > t.now) AS scheduled, 0 AS in_flight, 0 AS dead
    FROM {schema}.jobs j, t WHERE j.state = 'scheduled' GROUP BY j.endpoint_id
    UNION ALL
    SELECT endpoint_id, 0, 0, count(*), 0 FROM {schema}.jobs WHERE state = 'in_flight' GROUP BY endpoint_id
    UNION ALL
    SELECT endpoint_id, 0, 0, 0, count(*) FROM {schema}.dead_letters GROUP BY endpoint_id
)
SELECT endpoint_id, sum(due)::bigint AS due, sum(scheduled)::bigint AS scheduled,
       sum(in_flight)::bigint AS in_flight, sum(dead)::bigint AS dead
FROM counts GROUP BY endpoint_id ORDER BY endpoint_id
