//! Durable, signed webhook delivery: retries, circuit breakers, rate limits and a dead-letter queue.
//!
//! ```text
//! app ── Sender::send / publish ──► Queue (persisted; returns a JobId at once: the 202 pattern)
//!                                     │
//!   leaser: lease due jobs ◄──────────┘ only from endpoints that may take them now (breaker open, at
//!     max_in_flight, out of rate tokens or paused → not leased at all), into free slots; each job:
//!     sign (hookguard::Signer: fresh timestamp and signature, same webhook-id) and POST with a timeout,
//!     the lease extended every lease/3 meanwhile
//!       2xx → ack │ 410 → disable endpoint + dead-letter │ permanent 4xx, 3xx, refused target → dead-letter
//!       else → retry per RetryPolicy (Retry-After honoured, clamped) │ attempts exhausted → dead-letter
//!   flusher: the transitions of many jobs in one Queue::conclude call
//!   reaper: lapsed leases back to due (3 lapses → dead-letter); jobs past max_age dead-letter; prune
//!     delivered jobs past the retention; endpoint state; queue gauges
//! ```
//!
//! Every decision about time reads the sender's [`Clock`], and queues take the time as an argument, so tests
//! drive the whole schedule with a [`TestClock`] instead of sleeping.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use hookguard_sender::{DeadLetterFilter, Endpoint, MemoryQueue, Page, Queue, Sender};
//!
//! let sender = Sender::builder(MemoryQueue::new())
//!     .endpoint(
//!         Endpoint::new("billing", "https://billing.example.com/hooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
//!             .with_event_types(["invoice.paid"]),
//!     )
//!     .workers(8)
//!     .build()?;
//! let workers = sender.spawn();
//!
//! sender.publish("invoice.paid", r#"{"invoice":"in_1"}"#).await?;
//!
//! // Later: inspect and replay the dead-letter queue.
//! let dead = sender.queue().dead_letters(&DeadLetterFilter::endpoint("billing"), Page::first(50)).await?;
//! for record in &dead.items {
//!     sender.queue().replay(record.job.id, sender.now()).await?;
//! }
//! workers.shutdown(Duration::from_secs(10)).await;
//! # Ok(()) }
//! ```
//!
//! Requests go through a [`Transport`] ([`ReqwestTransport`] by default), so tests and demos can inject faults
//! without sockets. Endpoints can be paused ([`Sender::pause`]: jobs wait) or disabled ([`Sender::disable`],
//! or a 410: jobs dead-letter); the state lives in the queue, shared by every process.
//!
//! Breaker, rate limit and `max_in_flight` are per process: N sender processes on one queue allow up to N×.
//!
//! Operations: metric names and histogram buckets in [`metrics`]; with the feature `admin`, `admin::Admin`
//! builds an axum router with a JSON API (bearer token) and an operator's page over the dead-letter queue and
//! the endpoints' state.
//!
//! # Security
//! Endpoint URLs that resolve to private, loopback or link-local addresses are refused (at build time for
//! IP literals, at connect time for names) unless [`SenderBuilder::allow_private_networks`] is set; such a
//! job dead-letters `blocked-target` at once. Redirects are not followed (a 3xx dead-letters `redirect:3xx`).
//! User-info and query strings of endpoint URLs (which may carry tokens) never reach logs, `Debug` output or
//! attempt messages.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "admin")]
pub mod admin;
mod breaker;
mod endpoint;
mod error;
pub mod metrics;
mod outcome;
pub mod queue;
mod rate_limit;
mod retry;
mod sender;
mod ssrf;
mod transport;

#[cfg(feature = "conformance")]
#[doc(hidden)]
pub mod conformance;

pub use breaker::{Admission, BreakerState, CircuitBreaker};
pub use endpoint::{Endpoint, scheme_named};
pub use error::{ConfigError, SendError};
/// Time, shared with the verifier and the receiver's layer: one [`TestClock`] drives both sides of a test.
pub use hookguard::{Clock, SystemClock, TestClock, Timestamp};
pub use outcome::{Outcome, PermanentStatuses, classify, parse_retry_after};
#[cfg(feature = "postgres")]
pub use queue::PostgresQueue;
#[cfg(feature = "redis")]
pub use queue::RedisQueue;
pub use queue::{
    Attempt, AttemptErrorKind, AttemptResult, BoxedQueue, Cursor, DeadLetterFilter, DeadLetterPage,
    DeadLetterReason, EndpointState, Job, JobError, JobId, JobRecord, JobState, LeaseBatch,
    LeaseHandle, LeaseOptions, LeaseToken, Leased, MAX_PAYLOAD, MemoryQueue, NewJob, Page,
    Progress, Queue, QueueError, QueueStats, TimeSource, Transition, is_valid_event_id,
};
pub use rate_limit::RateLimit;
pub use retry::RetryPolicy;
pub use sender::{Enqueued, Event, LEASE_MARGIN, Sender, SenderBuilder, Workers};
pub use ssrf::is_forbidden;
pub use transport::{
    Request, ReqwestTransport, Response, Transport, TransportError, TransportFuture,
};

/// The README's example, compiled as a doctest so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
