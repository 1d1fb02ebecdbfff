-- One row per idempotency key. Times are milliseconds since the Unix epoch, like hookguard's Timestamp.
-- In progress (state 1): `token` holds it until `lease_until`; the row may be collected from
-- `expires_at` = lease deadline + retention. Completed (state 2): `response` is replayed until
-- `expires_at`; it is the record version byte followed by the response's encoding.
CREATE TABLE IF NOT EXISTS {schema}.records (
    key         text     PRIMARY KEY,
    fingerprint bytea    NOT NULL,
    state       smallint NOT NULL,
    token       bytea,
    lease_until bigint   NOT NULL,
    expires_at  bigint   NOT NULL,
    taken_over  boolean  NOT NULL DEFAULT false,
    response    bytea
);
CREATE INDEX IF NOT EXISTS records_expires_at ON {schema}.records (expires_at);
