-- $1 key, $2 token. A completed row is never released.
DELETE FROM {schema}.records WHERE key = $1 AND token = $2 AND state = 1
