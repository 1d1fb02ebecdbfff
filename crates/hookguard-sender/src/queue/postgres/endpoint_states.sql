-- Every endpoint state ever set, by id.
SELECT id, enabled, paused_until, reason, changed_at FROM {schema}.endpoints WHERE state_set ORDER BY id
