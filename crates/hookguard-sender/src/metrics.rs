//! Metric names (a contract with the Grafana dashboard) and the histogram buckets.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `hookguard_deliveries_total` | counter | `endpoint`, `outcome` = `delivered` \| `dead_lettered` |
//! | `hookguard_delivery_attempts_total` | counter | `endpoint`, `result` = `success` \| `retry_status` \| `permanent` \| `gone` \| `redirect` \| `timeout` \| `connect` \| `blocked` \| `body` \| `request` |
//! | `hookguard_delivery_seconds` | histogram | `endpoint` (buckets: [`DELIVERY_SECONDS_BUCKETS`]) |
//! | `hookguard_queue_jobs` | gauge | `state` = `due` \| `scheduled` \| `in_flight` |
//! | `hookguard_dead_letters` | gauge | — (jobs in the dead-letter queue) |
//! | `hookguard_breaker_open` | gauge | `endpoint` (1 open or half-open, 0 closed; a series per endpoint from the start) |
//! | `hookguard_deferrals_total` | counter | `endpoint`, `cause` = `breaker` \| `rate_limit` \| `paused` (in-flight caps exclude an endpoint from leasing instead) |
//! | `hookguard_leases_total` | counter | `result` = `lost` \| `reaped` \| `extended` |
//! | `hookguard_worker_restarts_total` | counter | — (a panicked worker task, logged and restarted) |
//!
//! Known label sets start at 0 when the sender is built: `hookguard_breaker_open`, `hookguard_deliveries_total`
//! and `hookguard_deferrals_total` per endpoint, `hookguard_leases_total` and
//! `hookguard_worker_restarts_total`; so a success-rate alert has a series before the first delivery, and a
//! first increment shows in `rate()`.
//!
//! Queue gauges are global values that every process exports: dashboards take `max`, not `sum`.
//!
//! The `metrics` facade does not carry buckets; set them in the exporter, e.g. with
//! `metrics-exporter-prometheus`:
//!
//! ```text
//! PrometheusBuilder::new()
//!     .set_buckets_for_metric(Matcher::Full(DELIVERY_SECONDS.into()), DELIVERY_SECONDS_BUCKETS)?
//! ```

/// Deliveries that reached a final outcome.
pub const DELIVERIES_TOTAL: &str = "hookguard_deliveries_total";
/// Attempts, by result.
pub const DELIVERY_ATTEMPTS_TOTAL: &str = "hookguard_delivery_attempts_total";
/// Attempt latency, in seconds.
pub const DELIVERY_SECONDS: &str = "hookguard_delivery_seconds";
/// Jobs by state.
pub const QUEUE_JOBS: &str = "hookguard_queue_jobs";
/// Jobs in the dead-letter queue.
pub const DEAD_LETTERS: &str = "hookguard_dead_letters";
/// Whether an endpoint's breaker is open.
pub const BREAKER_OPEN: &str = "hookguard_breaker_open";

/// Jobs held back without an attempt, by cause.
pub const DEFERRALS_TOTAL: &str = "hookguard_deferrals_total";
/// Lease events: lost (another worker owns the job), reaped (lapsed), extended (heartbeat).
pub const LEASES_TOTAL: &str = "hookguard_leases_total";
/// Worker tasks restarted after a panic.
pub const WORKER_RESTARTS_TOTAL: &str = "hookguard_worker_restarts_total";

/// Buckets for [`DELIVERY_SECONDS`]: 5 ms to 30 s (endpoint timeouts are 15 s by default).
pub const DELIVERY_SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0,
];
