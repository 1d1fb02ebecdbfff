//! The job queue: the [`Queue`] trait every backend implements, its records, and [`MemoryQueue`].
//!
//! A job is one event for one endpoint. Its life:
//!
//! ```text
//! enqueue ──► scheduled ──lease──► in flight ──ack──────────► delivered ──prune──► gone
//!                ▲  ▲                 │  │  └──dead_letter──► dead ──replay──► scheduled
//!                │  └──retry_at/defer─┘  └──release/reap (lease lapsed)──► scheduled
//! ```
//!
//! Time is always passed in (`now`, `at`): a queue never reads a clock, so one
//! [`TestClock`](crate::TestClock) drives every backend. Every call that ends an attempt (`ack`, `retry_at`,
//! `dead_letter`) records that attempt in the same call, so a crash can never leave an attempt unrecorded
//! beside a job that moved on. A lease is proved by its [`LeaseToken`]; a token whose lease was reaped (or
//! ended) fails with [`QueueError::LeaseLost`].
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use hookguard_sender::{Attempt, AttemptResult, MemoryQueue, NewJob, Queue, Timestamp};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let queue = MemoryQueue::new();
//! let now = Timestamp::from_unix_seconds(1_700_000_000);
//! let id = queue.enqueue(NewJob::new("ep_1", "msg_1", "invoice.paid", Bytes::from_static(b"{}"), now)).await?;
//! let leased = queue.lease(now, 10, Duration::from_secs(60)).await?;
//! assert_eq!(leased[0].job.id, id);
//! let attempt = Attempt::new(leased[0].attempt, now, AttemptResult::Status(200), Duration::from_millis(12));
//! queue.ack(&leased[0].token, attempt).await?;
//! assert_eq!(queue.stats(now).await?.in_flight, 0);
//! # Ok::<(), hookguard_sender::QueueError>(()) }).unwrap();
//! ```

mod boxed;
mod memory;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use crate::Timestamp;

pub use boxed::BoxedQueue;
pub use memory::MemoryQueue;

/// A job's identifier, unique within one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job_{}", self.0)
    }
}

/// Proof of a lease: 16 random bytes handed out by [`Queue::lease`]. `Debug` shows only a prefix.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LeaseToken([u8; 16]);

impl LeaseToken {
    /// A fresh random token.
    #[must_use]
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// A token from its bytes (for backends that store it).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The token's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LeaseToken({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A job to enqueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    /// The endpoint it goes to.
    pub endpoint_id: String,
    /// The event id: the receiver's idempotency key (`webhook-id`), stable across retries. Enqueueing the same
    /// event id for the same endpoint twice returns the existing job.
    pub event_id: String,
    /// The event type (`invoice.paid`).
    pub event_type: String,
    /// The request body, sent as is.
    pub payload: Bytes,
    /// When the job was created.
    pub created_at: Timestamp,
    /// When the first attempt is due.
    pub due_at: Timestamp,
}

impl NewJob {
    /// A job created and due at `now`.
    #[must_use]
    pub fn new(
        endpoint_id: impl Into<String>,
        event_id: impl Into<String>,
        event_type: impl Into<String>,
        payload: Bytes,
        now: Timestamp,
    ) -> Self {
        Self {
            endpoint_id: endpoint_id.into(),
            event_id: event_id.into(),
            event_type: event_type.into(),
            payload,
            created_at: now,
            due_at: now,
        }
    }

    /// Makes the first attempt due at `at` instead.
    #[must_use]
    pub const fn scheduled_at(mut self, at: Timestamp) -> Self {
        self.due_at = at;
        self
    }
}

/// A stored job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The job's id.
    pub id: JobId,
    /// The endpoint it goes to.
    pub endpoint_id: String,
    /// The event id (`webhook-id`).
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The request body.
    pub payload: Bytes,
    /// When the job was created.
    pub created_at: Timestamp,
    /// Attempts spent from the current budget (a replay starts a fresh budget).
    pub attempts: u32,
}

/// A leased job: deliver it, then end the lease with `ack`, `retry_at`, `defer`, `dead_letter` or `release`.
#[derive(Clone, Debug)]
pub struct Leased {
    /// The job.
    pub job: Job,
    /// The lease's proof.
    pub token: LeaseToken,
    /// The number of the attempt this lease is for (`job.attempts + 1`).
    pub attempt: u32,
}

/// Why an attempt failed without an HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttemptErrorKind {
    /// No response within the endpoint's timeout.
    Timeout,
    /// The connection could not be made (refused, reset, DNS, TLS).
    Connect,
    /// The target address is private, loopback or link-local and the sender does not allow that.
    Blocked,
    /// The response broke off (connection dropped mid-response).
    Body,
    /// Any other request error.
    Request,
}

impl AttemptErrorKind {
    /// A stable name: `timeout`, `connect`, `blocked`, `body`, `request`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Blocked => "blocked",
            Self::Body => "body",
            Self::Request => "request",
        }
    }

    /// The kind named by [`as_str`](Self::as_str).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "timeout" => Self::Timeout,
            "connect" => Self::Connect,
            "blocked" => Self::Blocked,
            "body" => Self::Body,
            "request" => Self::Request,
            _ => return None,
        })
    }
}

/// What an attempt got back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// An HTTP response with this status.
    Status(u16),
    /// No (complete) response.
    Error {
        /// What went wrong.
        kind: AttemptErrorKind,
        /// A human-readable description.
        message: String,
    },
}

/// The status (`503`), or the error's kind (`timeout`): the short form for logs and listings.
impl fmt::Display for AttemptResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(s) => write!(f, "{s}"),
            Self::Error { kind, .. } => f.write_str(kind.as_str()),
        }
    }
}

impl AttemptResult {
    /// The HTTP status, if there was a response.
    #[must_use]
    pub const fn status(&self) -> Option<u16> {
        match self {
            Self::Status(s) => Some(*s),
            Self::Error { .. } => None,
        }
    }

    /// The error kind, if there was no response.
    #[must_use]
    pub const fn error_kind(&self) -> Option<AttemptErrorKind> {
        match self {
            Self::Status(_) => None,
            Self::Error { kind, .. } => Some(*kind),
        }
    }
}

/// One recorded delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The attempt's number within its budget (1 for the first; a replay starts again at 1).
    pub number: u32,
    /// When the request started.
    pub at: Timestamp,
    /// The status or error.
    pub result: AttemptResult,
    /// How long it took.
    pub latency: Duration,
    /// The start of the response body (bounded by the sender's `response_body_limit`), lossily decoded.
    pub response_body: String,
}

impl Attempt {
    /// An attempt with an empty response body.
    #[must_use]
    pub const fn new(number: u32, at: Timestamp, result: AttemptResult, latency: Duration) -> Self {
        Self {
            number,
            at,
            result,
            latency,
            response_body: String::new(),
        }
    }
}

/// Why a job was dead-lettered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// The endpoint answered a permanent status (404, 422, …).
    PermanentStatus(u16),
    /// The endpoint answered 410 Gone; it is now disabled.
    EndpointGone,
    /// The retry policy's attempts ran out.
    AttemptsExhausted,
    /// The endpoint is disabled (earlier 410, or by an operator); no attempt was made.
    EndpointDisabled,
    /// No endpoint with this id is configured; no attempt was made.
    UnknownEndpoint,
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PermanentStatus(s) => write!(f, "permanent-status:{s}"),
            Self::EndpointGone => f.write_str("endpoint-gone"),
            Self::AttemptsExhausted => f.write_str("attempts-exhausted"),
            Self::EndpointDisabled => f.write_str("endpoint-disabled"),
            Self::UnknownEndpoint => f.write_str("unknown-endpoint"),
        }
    }
}

impl DeadLetterReason {
    /// Parses the [`Display`](fmt::Display) form back (for backends that store it as text).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "endpoint-gone" => Self::EndpointGone,
            "attempts-exhausted" => Self::AttemptsExhausted,
            "endpoint-disabled" => Self::EndpointDisabled,
            "unknown-endpoint" => Self::UnknownEndpoint,
            _ => Self::PermanentStatus(s.strip_prefix("permanent-status:")?.parse().ok()?),
        })
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Waiting; due at the given time.
    Scheduled {
        /// When it is due.
        due_at: Timestamp,
    },
    /// Leased by a worker until the given time.
    InFlight {
        /// When the lease lapses.
        until: Timestamp,
    },
    /// Delivered (kept until pruned, for dedupe and history).
    Delivered {
        /// When.
        at: Timestamp,
    },
    /// In the dead-letter queue.
    Dead {
        /// When.
        at: Timestamp,
        /// Why.
        reason: DeadLetterReason,
    },
}

/// `scheduled at T`, `in flight until T`, `delivered at T`, `dead-lettered at T (reason)`; times in Unix seconds.
impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheduled { due_at } => write!(f, "scheduled at {due_at}"),
            Self::InFlight { until } => write!(f, "in flight until {until}"),
            Self::Delivered { at } => write!(f, "delivered at {at}"),
            Self::Dead { at, reason } => write!(f, "dead-lettered at {at} ({reason})"),
        }
    }
}

/// A job with its state and attempt history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// The job.
    pub job: Job,
    /// Its state.
    pub state: JobState,
    /// Every recorded attempt, oldest first (across replays).
    pub attempts: Vec<Attempt>,
}

/// Selects dead letters. The default selects all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// Only this endpoint's.
    pub endpoint_id: Option<String>,
    /// Only those dead-lettered at or after this time.
    pub since: Option<Timestamp>,
    /// Only those dead-lettered before this time.
    pub before: Option<Timestamp>,
}

impl DeadLetterFilter {
    /// Every dead letter.
    #[must_use]
    pub fn all() -> Self {
        Self::default()
    }

    /// One endpoint's dead letters.
    #[must_use]
    pub fn endpoint(id: impl Into<String>) -> Self {
        Self {
            endpoint_id: Some(id.into()),
            ..Self::default()
        }
    }

    /// Whether a dead letter from `endpoint_id` at `dead_at` matches.
    #[must_use]
    pub fn matches(&self, endpoint_id: &str, dead_at: Timestamp) -> bool {
        self.endpoint_id.as_deref().is_none_or(|e| e == endpoint_id)
            && self.since.is_none_or(|s| dead_at >= s)
            && self.before.is_none_or(|b| dead_at < b)
    }
}

/// Where a dead-letter listing continues: keyset pagination over `(dead_at, id)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The last listed item's dead-letter time.
    pub dead_at: Timestamp,
    /// The last listed item's id.
    pub id: JobId,
}

/// One page of a listing request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// At most this many items.
    pub limit: usize,
    /// Continue after this cursor (from the previous page's `next`).
    pub after: Option<Cursor>,
}

impl Page {
    /// The first `limit` items.
    #[must_use]
    pub const fn first(limit: usize) -> Self {
        Self { limit, after: None }
    }
}

/// A page of dead letters, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterPage {
    /// The dead letters.
    pub items: Vec<JobRecord>,
    /// The cursor for the next page, if there may be more.
    pub next: Option<Cursor>,
}

/// Job counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Scheduled and due now.
    pub due: u64,
    /// Scheduled for later.
    pub scheduled: u64,
    /// Leased.
    pub in_flight: u64,
    /// Dead-lettered.
    pub dead: u64,
}

/// A queue operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The lease is no longer held (it lapsed and was reaped, or was already ended).
    #[error("lease lost: the job's lease lapsed or was already ended")]
    LeaseLost,
    /// No such job (or not in the state the call needs, e.g. replaying a job that is not dead).
    #[error("no such job: {0}")]
    NotFound(JobId),
    /// The queue holds as many jobs as it may.
    #[error("queue full: {capacity} jobs (scheduled, in flight or dead)")]
    Full {
        /// The capacity.
        capacity: usize,
    },
    /// The backend failed (connection, I/O, …); the source is kept.
    #[error("queue backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// Where jobs wait. Every method returns a `Send` future; time is passed in. See the [module docs](self).
///
/// `BoxedQueue` is the `dyn` adapter. Backends are checked by the conformance suite (feature `conformance`).
pub trait Queue: Send + Sync + 'static {
    /// Stores a job and returns its id. The same `(endpoint_id, event_id)` as an existing (not yet pruned) job
    /// returns that job's id and stores nothing.
    fn enqueue(&self, job: NewJob) -> impl Future<Output = Result<JobId, QueueError>> + Send;

    /// Leases up to `max` jobs due at `now` (earliest due first) until `now + lease_for`.
    fn lease(
        &self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
    ) -> impl Future<Output = Result<Vec<Leased>, QueueError>> + Send;

    /// The attempt succeeded: records it and marks the job delivered.
    fn ack(
        &self,
        token: &LeaseToken,
        attempt: Attempt,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// The attempt failed: records it, spends it, and schedules the job again at `at`.
    fn retry_at(
        &self,
        token: &LeaseToken,
        at: Timestamp,
        attempt: Attempt,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// No attempt was made (endpoint busy, breaker open, rate limited): schedules the job again at `at`
    /// without spending an attempt.
    fn defer(
        &self,
        token: &LeaseToken,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Moves the job to the dead-letter queue at `now`, recording `attempt` if one was made.
    fn dead_letter(
        &self,
        token: &LeaseToken,
        now: Timestamp,
        attempt: Option<Attempt>,
        reason: DeadLetterReason,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Gives the lease up (graceful shutdown): the job is due again at once, no attempt spent.
    fn release(&self, token: &LeaseToken) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Extends the lease until `until`.
    fn extend(
        &self,
        token: &LeaseToken,
        until: Timestamp,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Returns the jobs whose lease lapsed before `now` to the scheduled state (due at once, no attempt
    /// spent); their tokens become stale. Returns how many.
    fn reap(&self, now: Timestamp) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// Deletes delivered jobs delivered before `older_than`, and attempts made before `older_than` from jobs
    /// that are not dead (a dead letter keeps its whole history). Returns how many jobs were deleted.
    fn prune(
        &self,
        older_than: Timestamp,
    ) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// A job with its state and history.
    fn get(&self, id: JobId) -> impl Future<Output = Result<Option<JobRecord>, QueueError>> + Send;

    /// Lists dead letters matching `filter`, oldest first, one page at a time.
    fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> impl Future<Output = Result<DeadLetterPage, QueueError>> + Send;

    /// Schedules a dead letter again at `now` with a fresh attempt budget (history kept).
    /// [`QueueError::NotFound`] if the job is not dead.
    fn replay(
        &self,
        id: JobId,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// [`replay`](Self::replay)s every dead letter matching `filter`; returns how many.
    fn replay_all(
        &self,
        filter: &DeadLetterFilter,
        now: Timestamp,
    ) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// Deletes every dead letter matching `filter`; returns how many.
    fn purge(
        &self,
        filter: &DeadLetterFilter,
    ) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// Job counts at `now`.
    fn stats(&self, now: Timestamp) -> impl Future<Output = Result<QueueStats, QueueError>> + Send;

    /// Enables or disables an endpoint (a 410 disables it). Stored with the jobs so every sender process sees it.
    fn set_enabled(
        &self,
        endpoint_id: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Whether an endpoint is enabled (endpoints never disabled are).
    fn is_enabled(
        &self,
        endpoint_id: &str,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_and_states_print_short() {
        assert_eq!(AttemptResult::Status(503).to_string(), "503");
        let timeout = AttemptResult::Error {
            kind: AttemptErrorKind::Timeout,
            message: "after 15 s".into(),
        };
        assert_eq!(timeout.to_string(), "timeout");
        let at = Timestamp::from_unix_seconds(10);
        assert_eq!(
            JobState::Delivered { at }.to_string(),
            "delivered at 10.000"
        );
        let dead = JobState::Dead {
            at,
            reason: DeadLetterReason::PermanentStatus(404),
        };
        assert_eq!(
            dead.to_string(),
            "dead-lettered at 10.000 (permanent-status:404)"
        );
    }
}
