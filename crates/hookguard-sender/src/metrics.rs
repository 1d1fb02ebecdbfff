//! Metric names (a contract with the Grafana dashboard) and the histogram buckets.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `hookguard_deliveries_total` | counter | `endpoint`, `outcome` = `delivered` \| `dead_lettered` |
//! | `hookguard_delivery_attempts_total` | counter | `endpoint`, `result` = `success` \| `retry_status` \| `permanent` \| `gone` \| `timeout` \| `connect` \| `blocked` \| `body` \| `request` |
//! | `hookguard_delivery_seconds` | histogram | `endpoint` (buckets: [`DELIVERY_SECONDS_BUCKETS`]) |
//! | `hookguard_queue_jobs` | gauge | `state` = `due` \| `scheduled` \| `in_flight` |
//! | `hookguard_dead_letters` | gauge | — (jobs in the dead-letter queue) |
//! | `hookguard_breaker_open` | gauge | `endpoint` (1 open or half-open, 0 closed) |
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

/// Buckets for [`DELIVERY_SECONDS`]: 5 ms to 30 s (endpoint timeouts are 15 s by default).
pub const DELIVERY_SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0,
];
