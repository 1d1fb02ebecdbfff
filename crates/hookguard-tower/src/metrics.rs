//! The receiver's metrics (names are a contract with the dashboards; see the crate docs).

use crate::store::{Claim, IdempotencyKey, StoreError};

pub(crate) const WEBHOOKS_TOTAL: &str = "hookguard_webhooks_total";
pub(crate) const IDEMPOTENCY_TOTAL: &str = "hookguard_idempotency_total";
pub(crate) const VERIFY_SECONDS: &str = "hookguard_verify_seconds";

/// One request's outcome: `handled`, `replayed`, `fail-open`, or a rejection's kind.
pub(crate) fn webhook(scheme: &'static str, outcome: &'static str) {
    metrics::counter!(WEBHOOKS_TOTAL, "scheme" => scheme, "outcome" => outcome).increment(1);
}

pub(crate) fn verify_seconds(seconds: f64) {
    metrics::histogram!(VERIFY_SECONDS).record(seconds);
}

fn idempotency(result: &'static str) {
    metrics::counter!(IDEMPOTENCY_TOTAL, "result" => result).increment(1);
}

/// A claim's result: `acquired`, `in-progress`, `replayed`, `mismatch` or `error`.
pub(crate) fn claim(claim: &Result<Claim, StoreError>) {
    idempotency(match claim {
        Ok(Claim::Acquired(_)) => "acquired",
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
