-- $1 endpoint (NULL: all), $2 dead at or after, $3 dead before (NULL: any), $4 at most this many, $5 reason
-- (NULL: any). Deletes dead letters oldest first, with their attempts (ON DELETE CASCADE).
WITH old AS (
    SELECT job_id, dead_at FROM {schema}.dead_letters
    WHERE ($1::text IS NULL OR endpoint_id = $1)
      AND ($2::bigint IS NULL OR dead_at >= $2)
      AND ($3::bigint IS NULL OR dead_at < $3)
      AND ($5::text IS NULL OR reason = $5)
    ORDER BY dead_at, job_id
    LIMIT $4 + 1
    FOR UPDATE SKIP LOCKED
),
gone AS (
    DELETE FROM {schema}.jobs
    WHERE id IN (SELECT job_id FROM old ORDER BY dead_at, job_id LIMIT $4) AND state = 'dead'
    RETURNING id
)
SELECT (SELECT count(*) FROM gone) AS n, (SELECT count(*) FROM old) > $4 AS more
