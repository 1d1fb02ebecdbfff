-- $1 endpoint id: its state, if ever set.
SELECT enabled, paused_until, reason, changed_at FROM {schema}.endpoints WHERE id = $1 AND state_set
