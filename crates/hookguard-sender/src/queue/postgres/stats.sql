-- $1 now on the deadline clock (NULL: the server's). Each count reads one partial index or the dead-letter
-- table, never the finished jobs.
WITH t AS (
    SELECT coalesce($1::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS now
)
SELECT s.due, s.scheduled,
       (SELECT count(*) FROM {schema}.jobs WHERE state = 'in_flight') AS in_flight,
       (SELECT count(*) FROM {schema}.dead_letters) AS dead
FROM (
    SELECT count(*) FILTER (WHERE j.due_at <= t.now) AS due, count(*) FILTER (WHERE j.due_at > t.now) AS scheduled
    FROM {schema}.jobs j, t WHERE j.state = 'scheduled'
) s
