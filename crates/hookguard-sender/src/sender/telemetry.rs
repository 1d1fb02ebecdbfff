//! Every metric and log line the delivery engine emits, in one place (names: [`crate::metrics`]).

use std::time::Duration;

use crate::metrics as m;
use crate::queue::{JobId, QueueStats, Transition};

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

pub(crate) fn breaker(endpoint: &str, open: bool) {
    metrics::gauge!(m::BREAKER_OPEN, "endpoint" => endpoint.to_owned()).set(if open {
        1.0
    } else {
        0.0
    });
}

pub(crate) fn attempt(endpoint: &str, result: &'static str, latency: Duration) {
    metrics::counter!(m::DELIVERY_ATTEMPTS_TOTAL, "endpoint" => endpoint.to_owned(), "result" => result)
        .increment(1);
    metrics::histogram!(m::DELIVERY_SECONDS, "endpoint" => endpoint.to_owned())
        .record(latency.as_secs_f64());
}

/// The log line and counters for a transition the queue accepted.
pub(crate) fn concluded(
    endpoint: &str,
    job: JobId,
    event_id: &str,
    attempt: u32,
    transition: &Transition,
    outcome: &str,
    cause: Option<DeferCause>,
) {
    match transition {
        Transition::Ack { .. } => {
            tracing::info!(endpoint, %job, event_id, attempt, outcome, "delivered");
            final_outcome(endpoint, "delivered");
        }
        Transition::RetryAt { at, .. } => {
            tracing::info!(endpoint, %job, event_id, attempt, outcome, retry_at = %at, "attempt failed; retry scheduled");
        }
        Transition::Defer { at } => {
            let cause = cause.map_or("other", DeferCause::as_str);
            tracing::info!(endpoint, %job, event_id, attempt, cause, due_at = %at, "deferred without an attempt");
            metrics::counter!(m::DEFERRALS_TOTAL, "endpoint" => endpoint.to_owned(), "cause" => cause)
                .increment(1);
        }
        Transition::DeadLetter { reason, .. } => {
            tracing::warn!(endpoint, %job, event_id, attempt, outcome, %reason, "dead-lettered");
            final_outcome(endpoint, "dead_lettered");
        }
        Transition::Release => {
            tracing::info!(endpoint, %job, event_id, attempt, "lease released");
        }
    }
}

fn final_outcome(endpoint: &str, outcome: &'static str) {
    metrics::counter!(m::DELIVERIES_TOTAL, "endpoint" => endpoint.to_owned(), "outcome" => outcome)
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
