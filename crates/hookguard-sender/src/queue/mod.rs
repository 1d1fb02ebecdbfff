//! The job queue: the [`Queue`] trait every backend implements, its records, and [`MemoryQueue`].
//!
//! A job is one event for one endpoint. Its life:
//!
//! ```text
//! enqueue ──► scheduled ──lease──► in flight ──ack──────────► delivered ──prune──► gone
//!                ▲  ▲                 │  │  └──dead-letter──► dead ──replay──► scheduled
//!                │  └──retry-at/defer─┘  └──release/reap (lease lapsed)──► scheduled
//!                └────── reap after max_lapses, expire after max_age ──► dead
//! ```
//!
//! Time is always passed in (`now`, `at`): a queue never reads a clock, so one
//! [`TestClock`](crate::TestClock) drives every backend. [`Queue::conclude`] ends a batch of leases in one
//! call, each with its [`Transition`], recording each attempt beside the move it causes, so a crash can never
//! leave an attempt unrecorded beside a job that moved on. A lease is proved by its [`LeaseHandle`]; a handle
//! whose lease was reaped (or ended) fails with [`QueueError::LeaseLost`].
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use hookguard_sender::{Attempt, AttemptResult, LeaseOptions, MemoryQueue, NewJob, Queue, Timestamp, Transition};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let queue = MemoryQueue::new();
//! let now = Timestamp::from_unix_seconds(1_700_000_000);
//! let job = NewJob::new("ep_1", "msg_1", "invoice.paid", Bytes::from_static(b"{}"), now).unwrap();
//! let id = queue.enqueue(job).await?;
//! let leased = queue.lease(now, 10, Duration::from_secs(60), &LeaseOptions::all()).await?.jobs;
//! assert_eq!(leased[0].job.id, id);
//! let attempt = Attempt::new(leased[0].attempt, now, AttemptResult::Status(200), Duration::from_millis(12));
//! let results = queue.conclude(now, vec![(leased[0].handle.clone(), Transition::Ack { attempt })]).await?;
//! assert!(results[0].is_ok());
//! assert_eq!(queue.stats(now).await?.in_flight, 0);
//! # Ok::<(), hookguard_sender::QueueError>(()) }).unwrap();
//! ```

mod boxed;
mod memory;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
mod time_source;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use crate::Timestamp;

pub use boxed::BoxedQueue;
pub use memory::MemoryQueue;
#[cfg(feature = "postgres")]
pub use postgres::PostgresQueue;
#[cfg(feature = "redis")]
pub use redis::RedisQueue;
pub use time_source::TimeSource;

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

/// The largest payload a job may carry (1 MiB): a larger body is a bug upstream, not a delivery to retry.
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// A [`NewJob`] was refused: bad input never reaches a worker (so it never opens a breaker).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The endpoint id is empty, over 256 bytes, or has control characters.
    #[error("invalid endpoint id: it must be 1–256 bytes without control characters")]
    InvalidEndpointId,
    /// The event id cannot be a `webhook-id`: empty, over 256 bytes, or not visible ASCII without spaces and
    /// commas.
    #[error("invalid event id: it must be 1–256 visible ASCII characters without spaces or commas")]
    InvalidEventId,
    /// The event type is empty, over 256 bytes, or has control characters.
    #[error("invalid event type: it must be 1–256 bytes without control characters")]
    InvalidEventType,
    /// The payload is larger than [`MAX_PAYLOAD`].
    #[error("payload of {len} bytes is larger than {max} bytes")]
    PayloadTooLarge {
        /// The payload's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Whether `id` can be sent as a `webhook-id` (and as the other schemes' id headers).
#[must_use]
pub fn is_valid_event_id(id: &str) -> bool {
    (1..=256).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

fn is_valid_label(s: &str) -> bool {
    (1..=256).contains(&s.len()) && !s.chars().any(char::is_control)
}

/// A job to enqueue, checked when built: every job in a queue, whoever enqueued it, is deliverable.
///
/// ```
/// use bytes::Bytes;
/// use hookguard_sender::{JobError, NewJob, Timestamp};
/// let now = Timestamp::from_unix_seconds(1_700_000_000);
/// let job = NewJob::new("billing", "msg_1", "invoice.paid", Bytes::from_static(b"{}"), now)?;
/// assert_eq!(job.event_id(), "msg_1");
/// assert_eq!(
///     NewJob::new("billing", "has space", "invoice.paid", Bytes::new(), now).unwrap_err(),
///     JobError::InvalidEventId
/// );
/// # Ok::<(), JobError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    endpoint_id: String,
    event_id: String,
    event_type: String,
    payload: Bytes,
    created_at: Timestamp,
    due_at: Timestamp,
}

impl NewJob {
    /// A job created and due at `now`.
    ///
    /// # Errors
    /// A [`JobError`] naming the first field that is not acceptable.
    pub fn new(
        endpoint_id: impl Into<String>,
        event_id: impl Into<String>,
        event_type: impl Into<String>,
        payload: Bytes,
        now: Timestamp,
    ) -> Result<Self, JobError> {
        let (endpoint_id, event_id, event_type) =
            (endpoint_id.into(), event_id.into(), event_type.into());
        if !is_valid_label(&endpoint_id) {
            return Err(JobError::InvalidEndpointId);
        }
        if !is_valid_event_id(&event_id) {
            return Err(JobError::InvalidEventId);
        }
        if !is_valid_label(&event_type) {
            return Err(JobError::InvalidEventType);
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(JobError::PayloadTooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        Ok(Self {
            endpoint_id,
            event_id,
            event_type,
            payload,
            created_at: now,
            due_at: now,
        })
    }

    /// Makes the first attempt due at `at` instead.
    #[must_use]
    pub const fn scheduled_at(mut self, at: Timestamp) -> Self {
        self.due_at = at;
        self
    }

    /// The endpoint it goes to.
    #[must_use]
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }

    /// The event id: the receiver's idempotency key (`webhook-id`), stable across retries. Enqueueing the same
    /// event id for the same endpoint twice returns the existing job.
    #[must_use]
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The event type (`invoice.paid`).
    #[must_use]
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The request body, sent as is.
    #[must_use]
    pub const fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// When the job was created.
    #[must_use]
    pub const fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When the first attempt is due.
    #[must_use]
    pub const fn due_at(&self) -> Timestamp {
        self.due_at
    }

    /// The parts, for backends: `(endpoint_id, event_id, event_type, payload, created_at, due_at)`.
    #[must_use]
    pub fn into_parts(self) -> (String, String, String, Bytes, Timestamp, Timestamp) {
        (
            self.endpoint_id,
            self.event_id,
            self.event_type,
            self.payload,
            self.created_at,
            self.due_at,
        )
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

/// Proof of one lease on one job: the job's id and the lease's token. Every call that ends or extends a
/// lease takes it; a backend finds the job by `id` and checks `token` (one indexed lookup).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseHandle {
    /// The leased job.
    pub id: JobId,
    /// The lease's token.
    pub token: LeaseToken,
}

/// A leased job: deliver it, then end the lease with [`Queue::conclude`].
#[derive(Clone, Debug)]
pub struct Leased {
    /// The lease's proof.
    pub handle: LeaseHandle,
    /// The job.
    pub job: Job,
    /// The number of the attempt this lease is for (`job.attempts + 1`).
    pub attempt: u32,
}

/// Which endpoints a [`Queue::lease`] call may take jobs from, and how many from each.
///
/// The sender builds this from its admission state (breaker, in-flight cap, rate limit, pause), so that a
/// held-back endpoint's backlog is neither leased nor scanned: it costs no round trip until it can move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseOptions {
    /// Endpoints to skip entirely (their jobs are not leased and do not count for `next_due`).
    pub exclude: HashSet<String>,
    /// How many jobs an endpoint may give at most in this call (0 is like excluding it).
    pub caps: HashMap<String, usize>,
    /// The cap for endpoints not in `caps` (`usize::MAX`: no cap).
    pub default_cap: usize,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        Self {
            exclude: HashSet::new(),
            caps: HashMap::new(),
            default_cap: usize::MAX,
        }
    }
}

impl LeaseOptions {
    /// No exclusions, no caps.
    #[must_use]
    pub fn all() -> Self {
        Self::default()
    }

    /// How many jobs `endpoint_id` may give now (0 if excluded).
    #[must_use]
    pub fn cap(&self, endpoint_id: &str) -> usize {
        if self.exclude.contains(endpoint_id) {
            0
        } else {
            self.caps
                .get(endpoint_id)
                .copied()
                .unwrap_or(self.default_cap)
        }
    }
}

/// What [`Queue::lease`] returns.
#[derive(Clone, Debug, Default)]
pub struct LeaseBatch {
    /// The leased jobs: round-robin across endpoints, each endpoint's oldest due first.
    pub jobs: Vec<Leased>,
    /// The earliest due time of a scheduled job left in an endpoint that was neither excluded, nor capped at
    /// zero, nor had its cap used up by this call (`<= now` if the call stopped at `max`), or `None`. The
    /// caller learns of more room for the others from its own admission state, so it never needs to ask
    /// again just to find them still held back.
    pub next_due: Option<Timestamp>,
}

/// How a lease ends, given to [`Queue::conclude`]. The attempt, if one was made, is recorded in the same call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transition {
    /// The attempt succeeded: record it, mark the job delivered.
    Ack {
        /// The attempt.
        attempt: Attempt,
    },
    /// The attempt failed: record and spend it, schedule the job again at `at`.
    RetryAt {
        /// When the next attempt is due.
        at: Timestamp,
        /// The attempt.
        attempt: Attempt,
    },
    /// No attempt was made (held back): schedule again at `at`, spending nothing.
    Defer {
        /// When the job is due again.
        at: Timestamp,
    },
    /// Move the job to the dead-letter queue, recording `attempt` if one was made.
    DeadLetter {
        /// Why.
        reason: DeadLetterReason,
        /// The attempt, if one was made.
        attempt: Option<Attempt>,
        /// Also disable the job's endpoint (410 Gone), in the same call.
        disable_endpoint: bool,
    },
    /// Give the lease up (shutdown): due again at once, nothing spent.
    Release,
}

impl Transition {
    /// A short name for logs and metrics: `ack`, `retry`, `defer`, `dead_letter`, `release`.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Ack { .. } => "ack",
            Self::RetryAt { .. } => "retry",
            Self::Defer { .. } => "defer",
            Self::DeadLetter { .. } => "dead_letter",
            Self::Release => "release",
        }
    }
}

/// Whether an endpoint takes deliveries, shared by every sender process through the queue backend.
///
/// Disabled (a 410, or an operator): no deliveries, and its due jobs are dead-lettered `endpoint-disabled`.
/// Paused until a time: no deliveries and no dead-lettering; the jobs wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointState {
    /// Whether deliveries may go out.
    pub enabled: bool,
    /// No deliveries before this time (jobs wait, nothing is dead-lettered).
    pub paused_until: Option<Timestamp>,
    /// Why it was last changed (`endpoint-gone`, an operator's note).
    pub reason: Option<String>,
    /// When it was last changed (`None`: never).
    pub changed_at: Option<Timestamp>,
}

impl Default for EndpointState {
    /// Enabled, not paused, never changed.
    fn default() -> Self {
        Self {
            enabled: true,
            paused_until: None,
            reason: None,
            changed_at: None,
        }
    }
}

impl EndpointState {
    /// Enabled and not paused at `now`.
    #[must_use]
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.enabled && self.paused_until.is_none_or(|p| p <= now)
    }
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
    /// The endpoint answered a redirect (3xx); redirects are never followed.
    Redirect(u16),
    /// The endpoint answered 410 Gone; it is now disabled.
    EndpointGone,
    /// The retry policy's attempts ran out.
    AttemptsExhausted,
    /// The endpoint is disabled (earlier 410, or by an operator); no attempt was made.
    EndpointDisabled,
    /// No endpoint with this id is configured; no attempt was made.
    UnknownEndpoint,
    /// The target resolved to a private, loopback or link-local address and the sender does not allow that.
    BlockedTarget,
    /// The request could not be signed.
    SigningFailed,
    /// The job's lease lapsed `max_lapses` times in a row (its worker keeps dying on it).
    LeaseExpired,
    /// The job is older than the sender's `max_age`.
    Expired,
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PermanentStatus(s) => write!(f, "permanent-status:{s}"),
            Self::Redirect(s) => write!(f, "redirect:{s}"),
            Self::EndpointGone => f.write_str("endpoint-gone"),
            Self::AttemptsExhausted => f.write_str("attempts-exhausted"),
            Self::EndpointDisabled => f.write_str("endpoint-disabled"),
            Self::UnknownEndpoint => f.write_str("unknown-endpoint"),
            Self::BlockedTarget => f.write_str("blocked-target"),
            Self::SigningFailed => f.write_str("signing-failed"),
            Self::LeaseExpired => f.write_str("lease-expired"),
            Self::Expired => f.write_str("expired"),
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
            "blocked-target" => Self::BlockedTarget,
            "signing-failed" => Self::SigningFailed,
            "lease-expired" => Self::LeaseExpired,
            "expired" => Self::Expired,
            _ => {
                if let Some(code) = s.strip_prefix("redirect:") {
                    Self::Redirect(code.parse().ok()?)
                } else {
                    Self::PermanentStatus(s.strip_prefix("permanent-status:")?.parse().ok()?)
                }
            }
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
    /// Only those dead-lettered for this reason (`PermanentStatus(404)` matches 404s only). Backends index
    /// dead letters by time and endpoint, not by reason: a page of a rare reason may read many dead letters
    /// to fill (narrow it with `endpoint` or a time window).
    pub reason: Option<DeadLetterReason>,
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

    /// Whether a dead letter from `endpoint_id`, dead-lettered at `dead_at` for `reason`, matches.
    #[must_use]
    pub fn matches(&self, endpoint_id: &str, dead_at: Timestamp, reason: DeadLetterReason) -> bool {
        self.endpoint_id.as_deref().is_none_or(|e| e == endpoint_id)
            && self.since.is_none_or(|s| dead_at >= s)
            && self.before.is_none_or(|b| dead_at < b)
            && self.reason.is_none_or(|r| r == reason)
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
    /// The lease is no longer held: it was reaped (another worker may own the job now) or already ended.
    /// Not a backend failure: the caller abandons the attempt and records nothing.
    #[error("lease lost: the job's lease was reaped or already ended")]
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
    /// Replaying dead letters of a disabled endpoint would dead-letter them again at once: enable it first.
    #[error("endpoint `{0}` is disabled: enable it before replaying its dead letters")]
    EndpointDisabled(String),
    /// The backend is unreachable or refused for now (connection, timeout, serialization failure, read-only
    /// after a failover): the call may be retried, with backoff.
    #[error("queue backend unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The queue's configuration is not usable (a URL no backend of this build opens, a bad schema name or
    /// key prefix): fix it, retrying will not help.
    #[error("invalid queue configuration: {0}")]
    InvalidConfig(String),
    /// The backend failed permanently (bad schema, corrupt data, …); the source is kept.
    #[error("queue backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl QueueError {
    /// Whether retrying the same call later may succeed ([`Unavailable`](Self::Unavailable)).
    #[must_use]
    pub const fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A bounded bulk operation's result: how many items it handled, and whether more may be left (call again).
pub type Progress = (usize, bool);

/// Where jobs wait: the contract every backend implements. See the [module docs](self).
///
/// Rules every backend keeps (the conformance suite, feature `conformance`, checks them):
/// - time is passed in; a queue never reads a clock;
/// - each call is one atomic step (one statement, one script): a dropped future took effect wholly or not at
///   all, and each is meant to be one round trip;
/// - a lease is proved by its [`LeaseHandle`]; only [`reap`](Self::reap) takes a lapsed lease away, so a
///   lapsed but unreaped handle may still conclude or extend; a stale one fails with
///   [`QueueError::LeaseLost`] and changes nothing;
/// - bulk operations take a `limit` and return [`Progress`];
/// - a live job's history is never pruned.
///
/// [`BoxedQueue`] is the `dyn` adapter.
pub trait Queue: Send + Sync + 'static {
    /// Stores jobs, all or none, and returns their ids in order. A job whose `(endpoint_id, event_id)` matches
    /// a stored job in any state (dead included) returns that job's id and stores nothing; two equal keys in
    /// one call are one job.
    fn enqueue_many(
        &self,
        jobs: Vec<NewJob>,
    ) -> impl Future<Output = Result<Vec<JobId>, QueueError>> + Send;

    /// [`enqueue_many`](Self::enqueue_many) for one job.
    fn enqueue(&self, job: NewJob) -> impl Future<Output = Result<JobId, QueueError>> + Send {
        async move {
            let ids = self.enqueue_many(vec![job]).await?;
            ids.into_iter()
                .next()
                .ok_or_else(|| QueueError::Backend("enqueue_many returned no id".into()))
        }
    }

    /// Leases up to `max` jobs due at `now` until `now + lease_for`, from the endpoints `options` allows, at
    /// most each one's cap: round-robin across endpoints ordered by their oldest due job, each endpoint's
    /// jobs in due order (FIFO among equal due times). Excluded endpoints are never scanned.
    fn lease(
        &self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
        options: &LeaseOptions,
    ) -> impl Future<Output = Result<LeaseBatch, QueueError>> + Send;

    /// Ends leases, each with its [`Transition`] (recording its attempt), in one call. The outer error is the
    /// whole call failing (nothing happened); otherwise one result per item, in order: `Ok`, or
    /// [`QueueError::LeaseLost`] for a stale handle (the other items are unaffected).
    fn conclude(
        &self,
        now: Timestamp,
        batch: Vec<(LeaseHandle, Transition)>,
    ) -> impl Future<Output = Result<Vec<Result<(), QueueError>>, QueueError>> + Send;

    /// Extends a lease until `until` (the worker's heartbeat).
    fn extend(
        &self,
        handle: &LeaseHandle,
        until: Timestamp,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Takes back at most `limit` leases that lapsed before `now`: each counts a lapse (a recorded attempt
    /// resets the count) and is due again at once, or, at `max_lapses` consecutive lapses, dead-letters
    /// [`LeaseExpired`](DeadLetterReason::LeaseExpired). Their handles become stale.
    fn reap(
        &self,
        now: Timestamp,
        max_lapses: u32,
        limit: usize,
    ) -> impl Future<Output = Result<Progress, QueueError>> + Send;

    /// Dead-letters at most `limit` scheduled jobs created before `created_before` as
    /// [`Expired`](DeadLetterReason::Expired), at `now`.
    fn expire(
        &self,
        created_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Progress, QueueError>> + Send;

    /// Waits until work may be due: `until` (a sleep of `until - now` by default), or earlier when the backend
    /// learns of new due work (an enqueue, a replay; PostgreSQL LISTEN/NOTIFY, Redis pub/sub).
    fn wait_for_work(&self, now: Timestamp, until: Timestamp) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(until.saturating_duration_since(now))
    }

    /// Deletes at most `limit` jobs delivered before `older_than` (finished jobs only: a scheduled, leased or
    /// dead job keeps its whole history).
    fn prune(
        &self,
        older_than: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Progress, QueueError>> + Send;

    /// A job with its state and history.
    fn get(&self, id: JobId) -> impl Future<Output = Result<Option<JobRecord>, QueueError>> + Send;

    /// Lists dead letters matching `filter`, oldest first, one page at a time.
    fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> impl Future<Output = Result<DeadLetterPage, QueueError>> + Send;

    /// Schedules a dead letter again at `now` with a fresh attempt budget (history kept), and wakes workers.
    /// [`QueueError::NotFound`] if the job is not dead; [`QueueError::EndpointDisabled`] if its endpoint is
    /// disabled (it would be dead-lettered again at once).
    fn replay(
        &self,
        id: JobId,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// [`replay`](Self::replay)s at most `limit` dead letters matching `filter`, oldest first. Dead letters of
    /// disabled endpoints are skipped (not counted); a filter naming a disabled endpoint fails with
    /// [`QueueError::EndpointDisabled`].
    fn replay_all(
        &self,
        filter: &DeadLetterFilter,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Progress, QueueError>> + Send;

    /// Deletes at most `limit` dead letters matching `filter`, oldest first.
    fn purge(
        &self,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Progress, QueueError>> + Send;

    /// Job counts at `now`.
    fn stats(&self, now: Timestamp) -> impl Future<Output = Result<QueueStats, QueueError>> + Send;

    /// Job counts at `now` per endpoint: one entry for each endpoint with a scheduled, leased or dead job, in
    /// id order (an operator's view, read off the hot path; it reads every endpoint's indexes once).
    fn endpoint_stats(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<(String, QueueStats)>, QueueError>> + Send;

    /// An endpoint's state ([`EndpointState::default`] if never set).
    fn endpoint_state(
        &self,
        endpoint_id: &str,
    ) -> impl Future<Output = Result<EndpointState, QueueError>> + Send;

    /// Every endpoint state ever set (read by the sender off the hot path, every few seconds).
    fn endpoint_states(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, EndpointState)>, QueueError>> + Send;

    /// Sets an endpoint's state, seen by every sender process sharing this queue.
    fn set_endpoint_state(
        &self,
        endpoint_id: &str,
        state: EndpointState,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
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
