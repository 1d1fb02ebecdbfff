-- $1 delivered before this, $2 at most this many. Delivered jobs only, oldest first; their attempts go with
-- them (ON DELETE CASCADE).
WITH old AS (
    SELECT id, finished_at FROM {schema}.jobs
    WHERE state = 'delivered' AND finished_at < $1
    ORDER BY finished_at, id
    LIMIT $2 + 1
    FOR UPDATE SKIP LOCKED
),
gone AS (
    DELETE FROM {schema}.jobs
    WHERE id IN (SELECT id FROM old ORDER BY finished_at, id LIMIT $2) AND state = 'delivered'
    RETURNING id
)
SELECT (SELECT count(*) FROM gone) AS n, (SELECT count(*) FROM old) > $2 AS more
