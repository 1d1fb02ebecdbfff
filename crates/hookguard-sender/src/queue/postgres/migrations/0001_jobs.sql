-- The queue's tables. Times are milliseconds since the Unix epoch, like hookguard's Timestamp.

-- One row per endpoint that has ever had a job (the enqueue statements insert it), or whose state was set:
-- leasing is driven from this table, one index probe per endpoint. `state_set` tells the endpoints whose
-- state someone set (listed by `endpoint_states`) from those only known through their jobs.
CREATE TABLE IF NOT EXISTS {schema}.endpoints (
    id           text    PRIMARY KEY,
    state_set    boolean NOT NULL DEFAULT false,
    enabled      boolean NOT NULL DEFAULT true,
    paused_until bigint,
    reason       text,
    changed_at   bigint
);

-- Every job, whatever its state: so dedupe by (endpoint_id, event_id) is one unique index across every
-- state, dead included. `due_at` is set while scheduled; `token` and `lease_until` while in flight;
-- `finished_at` once delivered or dead. `attempts` counts the current budget (a replay resets it); `lapses`
-- counts consecutive lapsed leases since the last recorded attempt.
CREATE TABLE IF NOT EXISTS {schema}.jobs (
    id          bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id text     NOT NULL,
    event_id    text     NOT NULL,
    event_type  text     NOT NULL,
    payload     bytea    NOT NULL,
    created_at  bigint   NOT NULL,
    state       text     NOT NULL CHECK (state IN ('scheduled', 'in_flight', 'delivered', 'dead')),
    due_at      bigint,
    token       bytea,
    lease_until bigint,
    finished_at bigint,
    attempts    integer  NOT NULL DEFAULT 0,
    lapses      integer  NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_event ON {schema}.jobs (endpoint_id, event_id);
-- Leasing: each endpoint's due jobs in (due_at, id) order. Finished jobs are not in it, however many.
CREATE INDEX IF NOT EXISTS jobs_due ON {schema}.jobs (endpoint_id, due_at, id) WHERE state = 'scheduled';
-- Expiring scheduled jobs past max_age. The `lapses >= 0` (always true) keeps the planner from reading this
-- index for leasing, whose WHERE does not imply it: with stale statistics it could otherwise scan every
-- scheduled job per endpoint here and sort, instead of probing `jobs_due`. `expire.sql` states it.
CREATE INDEX IF NOT EXISTS jobs_created ON {schema}.jobs (created_at, id) WHERE state = 'scheduled' AND lapses >= 0;
-- Reaping lapsed leases, pruning deliveries past the retention.
CREATE INDEX IF NOT EXISTS jobs_leased ON {schema}.jobs (lease_until, id) WHERE state = 'in_flight';
CREATE INDEX IF NOT EXISTS jobs_delivered ON {schema}.jobs (finished_at, id) WHERE state = 'delivered';

-- Every recorded attempt, oldest first by `id` (across replays); deleted with its job.
CREATE TABLE IF NOT EXISTS {schema}.attempts (
    job_id        bigint  NOT NULL REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
    id            bigint  GENERATED ALWAYS AS IDENTITY,
    number        integer NOT NULL,
    at            bigint  NOT NULL,
    status        integer,
    error_kind    text,
    error_message text,
    latency_ns    bigint  NOT NULL,
    response_body text    NOT NULL,
    PRIMARY KEY (job_id, id)
);

-- The dead-letter details of each dead job; deleted with its job, or when it is replayed.
CREATE TABLE IF NOT EXISTS {schema}.dead_letters (
    job_id      bigint PRIMARY KEY REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
    endpoint_id text   NOT NULL,
    dead_at     bigint NOT NULL,
    reason      text   NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_at ON {schema}.dead_letters (dead_at, job_id);
CREATE INDEX IF NOT EXISTS dead_letters_endpoint ON {schema}.dead_letters (endpoint_id, dead_at, job_id);
