//! Every metric and log line the delivery engine emits, in one place (names: [`crate::metrics`]).

use std::sync::Arc;
use std::time::Duration;

use crate::Timestamp;
use crate::metrics as m;
use crate::queue::{DeadLetterReason, JobId, QueueStats};

/// Why a job was held back without an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeferCause {
    Breaker,
    RateLimit,
    Paused,
}

impl DeferCause {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Breaker => "breaker",
            Self::RateLimit => "rate_limit",
            Self::Paused => "paused",
        }
    }
}

/// Registers every series whose labels are known up front at 0 (breaker, final outcomes and deferrals per
/// endpoint; leases and restarts), so dashboards and alerts see a series, and a first increment shows in
/// `rate()`, from the start.
pub(crate) fn register(endpoints: &[String]) {
    for id in endpoints {
        breaker(id, false);
        for outcome in ["delivered", "dead_lettered"] {
            metrics::counter!(m::DELIVERIES_TOTAL, "endpoint" => id.clone(), "outcome" => outcome)
                .increment(0);
        }
        for cause in [
            DeferCause::Breaker,
            DeferCause::RateLimit,
            DeferCause::Paused,
        ] {
            metrics::counter!(m::DEFERRALS_TOTAL, "endpoint" => id.clone(), "cause" => cause.as_str())
                .increment(0);
        }
    }
    for result in ["lost", "reaped", "extended"] {
        metrics::counter!(m::LEASES_TOTAL, "result" => result).increment(0);
    }
    metrics::counter!(m::WORKER_RESTARTS_TOTAL).increment(0);
}

pub(crate) fn breaker(endpoint: &str, open: bool) {
    metrics::gauge!(m::BREAKER_OPEN, "endpoint" => endpoint.to_owned()).set(if open {
        1.0
    } else {
        0.0
    });
}

// Endpoint labels are `Arc<str>`: a label per metric call is then a reference count, not an allocation.

pub(crate) fn attempt(endpoint: &Arc<str>, result: &'static str, latency: Duration) {
    metrics::counter!(m::DELIVERY_ATTEMPTS_TOTAL, "endpoint" => Arc::clone(endpoint), "result" => result)
        .increment(1);
    metrics::histogram!(m::DELIVERY_SECONDS, "endpoint" => Arc::clone(endpoint))
        .record(latency.as_secs_f64());
}

/// Where a concluded job went, for its log line and counters (the transition itself went to the queue).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Moved {
    Delivered,
    Retry { at: Timestamp },
    Deferred { at: Timestamp, cause: DeferCause },
    Dead(DeadLetterReason),
    Released,
}

/// The log line and counters for a transition the queue accepted.
pub(crate) fn concluded(label: &Arc<str>, job: JobId, event_id: &str, attempt: u32, moved: &Moved) {
    let endpoint = &**label;
    match *moved {
        Moved::Delivered => {
            tracing::info!(endpoint, %job, event_id, attempt, outcome = "delivered", "delivered");
            final_outcome(label, "delivered");
        }
        Moved::Retry { at } => {
            tracing::info!(endpoint, %job, event_id, attempt, outcome = "retry", retry_at = %at, "attempt failed; retry scheduled");
        }
        Moved::Deferred { at, cause } => {
            let cause = cause.as_str();
            tracing::info!(endpoint, %job, event_id, attempt, outcome = "deferred", cause, due_at = %at, "deferred without an attempt");
            metrics::counter!(m::DEFERRALS_TOTAL, "endpoint" => Arc::clone(label), "cause" => cause)
                .increment(1);
        }
        Moved::Dead(reason) => {
            tracing::warn!(endpoint, %job, event_id, attempt, outcome = "dead_lettered", %reason, "dead-lettered");
            final_outcome(label, "dead_lettered");
        }
        Moved::Released => {
            tracing::info!(endpoint, %job, event_id, attempt, outcome = "released", "lease released");
        }
    }
}

fn final_outcome(endpoint: &Arc<str>, outcome: &'static str) {
    metrics::counter!(m::DELIVERIES_TOTAL, "endpoint" => Arc::clone(endpoint), "outcome" => outcome)
        .increment(1);
}

pub(crate) fn lease_lost(endpoint: &str, job: JobId, event_id: &str, attempt: u32) {
    tracing::warn!(
        endpoint,
        %job,
        event_id,
        attempt,
        "lease lost: another worker owns the job now; attempt abandoned, nothing recorded"
    );
    lease("lost", 1);
}

pub(crate) fn lease(result: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(m::LEASES_TOTAL, "result" => result).increment(n);
    }
}

pub(crate) fn worker_restart(task: &str, panic: &str) {
    tracing::error!(task, panic, "worker task panicked; restarted");
    metrics::counter!(m::WORKER_RESTARTS_TOTAL).increment(1);
}

pub(crate) fn queue_gauges(stats: &QueueStats) {
    metrics::gauge!(m::QUEUE_JOBS, "state" => "due").set(stats.due as f64);
    metrics::gauge!(m::QUEUE_JOBS, "state" => "scheduled").set(stats.scheduled as f64);
    metrics::gauge!(m::QUEUE_JOBS, "state" => "in_flight").set(stats.in_flight as f64);
    metrics::gauge!(m::DEAD_LETTERS).set(stats.dead as f64);
}
