-- $1 job id: the job, its state, its dead-letter details and its attempts (oldest first) in one row.
SELECT j.id, j.endpoint_id, j.event_id, j.event_type, j.payload, j.created_at, j.attempts, j.state,
       j.due_at, j.lease_until, j.finished_at, d.dead_at, d.reason,
       a.numbers, a.ats, a.statuses, a.error_kinds, a.error_messages, a.latencies, a.bodies
FROM {schema}.jobs j
LEFT JOIN {schema}.dead_letters d ON d.job_id = j.id
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
WHERE j.id = $1
