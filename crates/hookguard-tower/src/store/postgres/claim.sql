-- $1 key, $2 fingerprint, $3 new token, $4 lease ms, $5 retention ms, $6 now ms (NULL: the server's clock,
-- read once per statement by statement_timestamp()).
-- One statement that always returns the row as it now is: ours (token = $3) iff we acquired it. A lapsed
-- in-progress row or an expired completed row is taken over in place; a live one is written back unchanged,
-- so concurrent claims of one key serialise on the row lock and each sees the winner's row.
INSERT INTO {schema}.records AS r (key, fingerprint, state, token, lease_until, expires_at, taken_over, response)
VALUES ($1, $2, 1, $3, {now} + $4, {now} + $4 + $5, false, NULL)
ON CONFLICT (key) DO UPDATE SET
    fingerprint = CASE WHEN {dead} THEN excluded.fingerprint ELSE r.fingerprint END,
    state       = CASE WHEN {dead} THEN 1 ELSE r.state END,
    token       = CASE WHEN {dead} THEN excluded.token ELSE r.token END,
    lease_until = CASE WHEN {dead} THEN excluded.lease_until ELSE r.lease_until END,
    expires_at  = CASE WHEN {dead} THEN excluded.expires_at ELSE r.expires_at END,
    taken_over  = CASE WHEN {dead} THEN r.state = 1 ELSE r.taken_over END,
    response    = CASE WHEN {dead} THEN NULL ELSE r.response END
RETURNING r.state, r.fingerprint, r.token, r.lease_until, r.taken_over, r.response, {now} AS now
