-- $1 endpoint (NULL: all), $2 dead at or after (NULL: any), $3 dead before (NULL: any), $4/$5 continue after
-- this (dead_at, id) (NULL: from the start), $6 at most this many, $7 reason (NULL: any). Oldest first, each
-- with its attempts.
SELECT j.id, j.endpoint_id, j.event_id, j.event_type, j.payload, j.created_at, j.attempts, j.state,
       j.due_at, j.lease_until, j.finished_at, d.dead_at, d.reason,
       a.numbers, a.ats, a.statuses, a.error_kinds, a.error_messages, a.latencies, a.bodies
FROM {schema}.dead_letters d
JOIN {schema}.jobs j ON j.id = d.job_id
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(number ORDER BY id), '{}') AS numbers,
           coalesce(array_agg(at ORDER BY id), '{}') AS ats,
           coalesce(array_agg(status ORDER BY id), '{}') AS statuses,
           coalesce(array_agg(error_kind ORDER BY id), '{}') AS error_kinds,
           coalesce(array_agg(error_message ORDER BY id), '{}') AS error_messages,
           coalesce(array_agg(latency_ns ORDER BY id), '{}') AS latencies,
           coalesce(array_agg(response_body ORDER BY id), '{}') AS bodies
    FROM {schema}.attempts WHERE job_id = j.id
) a
WHERE ($1::text IS NULL OR d.endpoint_id = $1)
  AND ($2::bigint IS NULL OR d.dead_at >= $2)
  AND ($3::bigint IS NULL OR d.dead_at < $3)
  AND ($4::bigint IS NULL OR (d.dead_at, d.job_id) > ($4, $5::bigint))
  AND ($7::text IS NULL OR d.reason = $7)
ORDER BY d.dead_at, d.job_id
LIMIT $6
