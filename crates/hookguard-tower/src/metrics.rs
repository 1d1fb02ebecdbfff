//! The receiver's metric names (a contract with the Grafana dashboard and the alerts) and the verify
//! histogram's buckets.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `hookguard_webhooks_total` | counter | `scheme`, `outcome` = `handled` \| `replayed` \| `fail-open` \| a [`Rejection::kind`](crate::Rejection::kind) |
//! | `hookguard_idempotency_total` | counter | `result` = `acquired` \| `taken-over` \| `in-progress` \| `replayed` \| `mismatch` \| `completed` \| `released` \| `extended` \| `lease-lost` \| `corrupt` \| `error` |
//! | `hookguard_idempotency_evictions_total` | counter | — (completed records evicted from a bounded store early) |
//! | `hookguard_verify_seconds` | histogram | — (buckets: [`VERIFY_SECONDS_BUCKETS`]) |
//!
//! The `metrics` facade does not carry buckets; set them in the exporter, e.g. with
//! `metrics-exporter-prometheus`:
//!
//! ```text
//! PrometheusBuilder::new()
//!     .set_buckets_for_metric(Matcher::Full(VERIFY_SECONDS.into()), VERIFY_SECONDS_BUCKETS)?
//! ```

use crate::store::{Claim, IdempotencyKey, StoreError};

/// Requests, by scheme and outcome.
pub const WEBHOOKS_TOTAL: &str = "hookguard_webhooks_total";
/// Idempotency store results.
pub const IDEMPOTENCY_TOTAL: &str = "hookguard_idempotency_total";
/// Signature verification time, in seconds.
pub const VERIFY_SECONDS: &str = "hookguard_verify_seconds";
/// Completed records evicted from a bounded store before their retention ran out.
pub const EVICTIONS_TOTAL: &str = "hookguard_idempotency_evictions_total";

/// Buckets for [`VERIFY_SECONDS`]: 5 µs to 10 ms (an HMAC check takes microseconds, an Ed25519 one tens of
/// them; 16 candidates at most).
pub const VERIFY_SECONDS_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01,
];

/// One request's outcome: `handled`, `replayed`, `fail-open`, or a rejection's kind. A delivery handled
/// under a built-in scheme, the outcome of nearly every request, counts under a static key (labels built
/// per call cost an allocation); any other pair through the dynamic form.
pub(crate) fn webhook(scheme: &'static str, outcome: &'static str) {
    macro_rules! handled_by {
        ($($known:literal),*) => {
            match (scheme, outcome) {
                $(($known, "handled") => metrics::counter!(
                    "hookguard_webhooks_total", "scheme" => $known, "outcome" => "handled"
                ),)*
                _ => metrics::counter!(WEBHOOKS_TOTAL, "scheme" => scheme, "outcome" => outcome),
            }
        };
    }
    handled_by!("standard-webhooks", "stripe", "github", "slack", "shopify").increment(1);
}

pub(crate) fn verify_seconds(seconds: f64) {
    // A literal, so that the key is a static (a name from a constant builds and hashes a key per call).
    metrics::histogram!("hookguard_verify_seconds").record(seconds);
}

/// One `hookguard_idempotency_total` increment. Each result is spelled out so that its key is a static
/// (no allocation or hashing per request); an unknown result still counts, through the dynamic form.
fn idempotency(result: &'static str) {
    macro_rules! by_result {
        ($($known:literal),*) => {
            match result {
                $($known => metrics::counter!("hookguard_idempotency_total", "result" => $known),)*
                other => metrics::counter!(IDEMPOTENCY_TOTAL, "result" => other),
            }
        };
    }
    by_result!(
        "acquired",
        "taken-over",
        "in-progress",
        "replayed",
        "mismatch",
        "completed",
        "released",
        "extended",
        "lease-lost",
        "corrupt",
        "error"
    )
    .increment(1);
}

/// A claim's result: `acquired`, `taken-over` (a lapsed lease), `in-progress`, `replayed`, `mismatch` or
/// `error`.
pub(crate) fn claim(claim: &Result<Claim, StoreError>) {
    idempotency(match claim {
        Ok(Claim::Acquired {
            took_over: false, ..
        }) => "acquired",
        Ok(Claim::Acquired {
            took_over: true, ..
        }) => "taken-over",
        Ok(Claim::InProgress { .. }) => "in-progress",
        Ok(Claim::Completed(_)) => "replayed",
        Ok(Claim::Mismatch) => "mismatch",
        Err(_) => "error",
    });
}

/// After the handler: the claim was completed (`completed`) or released (`released`), or that failed
/// (`lease-lost`, `error`). Failures are logged; the handler's response is returned all the same.
pub(crate) fn finished(key: &IdempotencyKey, completing: bool, result: Result<(), StoreError>) {
    match result {
        Ok(()) => idempotency(if completing { "completed" } else { "released" }),
        Err(StoreError::LeaseLost) => {
            idempotency("lease-lost");
            tracing::warn!(%key, "lease lost before the response was stored: the lease is shorter than the handler");
        }
        Err(error) => {
            idempotency("error");
            tracing::warn!(%key, %error, completing, "could not record the handler's outcome");
        }
    }
}

/// A claim released by a drop guard.
pub(crate) fn released(result: &Result<(), StoreError>) {
    idempotency(if result.is_ok() { "released" } else { "error" });
}

/// A record that did not decode, treated as absent.
pub(crate) fn corrupt_record() {
    idempotency("corrupt");
}

/// Completed records evicted from a bounded store before their retention ran out.
pub(crate) fn evicted(records: u64) {
    if records > 0 {
        metrics::counter!(EVICTIONS_TOTAL).increment(records);
    }
}

/// A claim extended by the heartbeat while its handler runs.
pub(crate) fn extended() {
    idempotency("extended");
}

/// The heartbeat found the claim taken over.
pub(crate) fn lease_lost() {
    idempotency("lease-lost");
}

#[cfg(test)]
mod tests {
    /// The static keys spell the names out, since `metrics::counter!` makes a key static only from literals.
    #[test]
    fn the_static_keys_spell_the_published_names() {
        assert_eq!(super::WEBHOOKS_TOTAL, "hookguard_webhooks_total");
        assert_eq!(super::IDEMPOTENCY_TOTAL, "hookguard_idempotency_total");
        assert_eq!(super::VERIFY_SECONDS, "hookguard_verify_seconds");
    }
}
