//! The receiver's metrics (names are a contract with the dashboards; see the crate docs).

use crate::store::{Claim, IdempotencyKey, StoreError};

pub(crate) const WEBHOOKS_TOTAL: &str = "hookguard_webhooks_total";
pub(crate) const IDEMPOTENCY_TOTAL: &str = "hookguard_idempotency_total";
pub(crate) const VERIFY_SECONDS: &str = "hookguard_verify_seconds";
pub(crate) const EVICTIONS_TOTAL: &str = "hookguard_idempotency_evictions_total";

/// One request's outcome: `handled`, `replayed`, `fail-open`, or a rejection's kind.
pub(crate) fn webhook(scheme: &'static str, outcome: &'static str) {
    metrics::counter!(WEBHOOKS_TOTAL, "scheme" => scheme, "outcome" => outcome).increment(1);
}

pub(crate) fn verify_seconds(seconds: f64) {
    metrics::histogram!(VERIFY_SECONDS).record(seconds);
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

/// A completed record evicted from a bounded store before its retention ran out.
pub(crate) fn evicted() {
    metrics::counter!(EVICTIONS_TOTAL).increment(1);
}

/// A claim extended by the heartbeat while its handler runs.
pub(crate) fn extended() {
    idempotency("extended");
}

/// The heartbeat found the claim taken over.
pub(crate) fn lease_lost() {
    idempotency("lease-lost");
}
