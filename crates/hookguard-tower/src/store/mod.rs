//! Idempotency records: the [`IdempotencyStore`] contract (v2) and its in-memory backend.
//!
//! A record moves through three states. [`claim`](IdempotencyStore::claim) creates it *in progress*, held by
//! a fresh [`Token`] until a lease deadline that the holder moves forward with
//! [`extend`](IdempotencyStore::extend) while its handler runs; [`complete`](IdempotencyStore::complete)
//! turns it into a *completed* record that replays the handler's response until its retention runs out;
//! [`release`](IdempotencyStore::release) deletes it so the next delivery runs the handler again. A record
//! whose lease lapsed (its holder crashed or hung) is taken over by the next claim, with a new token
//! ([`Claim::Acquired`] says `took_over`); the old holder's `complete` then fails with
//! [`StoreError::LeaseLost`]. Until someone takes over, a lapsed holder may still complete.
//!
//! Every record carries the SHA-256 of the payload that created it: a claim for the same key with another
//! payload gets [`Claim::Mismatch`], whether the record is in progress or completed.
//!
//! # Time
//! Every call takes `now`, and liveness is decided on the deadlines kept in the record, never on a native
//! TTL (which is garbage collection only). The layer passes the time of the verifier's clock, so one test
//! clock drives signatures, leases and retention alike. Replicas behind a load balancer read their own
//! clocks: a networked store compares deadlines on the *server's* clock by default, so that replicas whose
//! clocks are skewed still agree on who holds a lease; built with the caller's clock, it uses `now` (what
//! the conformance suite does), and then replica clocks must agree to well within a lease.

mod boxed;
mod key;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod record;
#[cfg(feature = "redis")]
mod redis;

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use hookguard::Timestamp;

pub use self::boxed::BoxedStore;
pub use self::key::{IdempotencyKey, Token};
pub use self::memory::{MemoryStats, MemoryStore};
#[cfg(feature = "postgres")]
pub use self::postgres::PostgresStore;
pub use self::record::{RECORD_VERSION, Record, StoredResponse};
#[cfg(feature = "redis")]
pub use self::redis::RedisStore;

/// Whose clock a networked store compares deadlines on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeSource {
    /// The backend server's clock (Redis `TIME`, PostgreSQL `clock_timestamp()`): replicas whose clocks
    /// are skewed still agree on who holds a lease. The `now` passed to each call is ignored.
    #[default]
    Server,
    /// The `now` passed to each call: for tests that drive a test clock, or replicas whose clocks are
    /// known to agree to well within a lease.
    Caller,
}

/// What a [`claim`](IdempotencyStore::claim) found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// No live record: one was created, held by this token. Run the handler.
    Acquired {
        /// The new holder's token.
        token: Token,
        /// Whether an in-progress record whose lease had lapsed was taken over (its holder crashed, hung
        /// or is slower than its lease): the handler may have started for this event before.
        took_over: bool,
    },
    /// Another delivery with the same payload holds the record; try again after about `retry_after`.
    InProgress {
        /// Time left on the holder's lease (at least one second).
        retry_after: Duration,
    },
    /// The handler already ran for this payload: replay its response.
    Completed(StoredResponse),
    /// A record with this key exists (in progress or completed) for a different payload.
    Mismatch,
}

impl Claim {
    /// [`Claim::InProgress`] for a lease lapsing at `lease_until`: the time left, in whole seconds rounded
    /// up and at least one (it becomes a `Retry-After` header).
    pub fn in_progress(lease_until: Timestamp, now: Timestamp) -> Self {
        Self::in_progress_for(lease_until.saturating_duration_since(now))
    }

    /// [`Claim::InProgress`] for a lease with `left` to run (a backend that computed it server-side).
    pub fn in_progress_for(left: Duration) -> Self {
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Self::InProgress {
            retry_after: Duration::from_secs(secs.max(1)),
        }
    }
}

/// `now + d`, rounded up to the next millisecond: a lease is never shorter than asked.
pub(crate) fn deadline(now: Timestamp, d: Duration) -> Timestamp {
    let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
    now + Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// A boxed error from a store's backend.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record no longer holds this token: its lease lapsed and another delivery took it over, or it was
    /// released or already completed.
    #[error("the idempotency record is no longer held by this token")]
    LeaseLost,
    /// The backend could not be reached, failed, or did not answer within the call's timeout.
    #[error("the {backend} idempotency store is unavailable: {source}")]
    Unavailable {
        /// Which backend: `redis`, `postgresql`, or a custom store's name.
        backend: &'static str,
        /// What failed (never a connection URL or its password).
        source: BoxError,
    },
    /// A record read back from the backend could not be decoded. Stores treat such a record as absent
    /// (and count it) rather than failing the call: this error comes from [`Record::decode`].
    #[error("corrupt idempotency record: {0}")]
    Corrupt(&'static str),
    /// The store was configured with something it cannot use (a schema name, a URL).
    #[error("invalid idempotency store configuration: {0}")]
    InvalidConfig(String),
    /// The response passes a record limit (see [`Record`]) and was not stored.
    #[error("the response cannot be stored: {0}")]
    TooLarge(&'static str),
}

impl StoreError {
    /// Wraps an error of the `backend` (say `"redis"`) as [`StoreError::Unavailable`].
    pub fn unavailable(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            backend,
            source: source.into(),
        }
    }
}

/// Where idempotency records live.
///
/// Methods return `impl Future + Send` (no `async_trait`); [`BoxedStore`] erases the type where a run-time
/// choice of backend is needed. The contract below must hold under any interleaving of calls, across
/// processes for shared backends, and each call must be atomic: a future dropped half-way took effect wholly
/// or not at all. The conformance suite (feature `conformance`) checks all of it.
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `key` for a payload with this SHA-256 `fingerprint`, holding it until `now + lease`.
    ///
    /// - no record, a corrupt one, a completed one past its retention, or an in-progress record whose lease
    ///   lapsed → a new record held by a new token, [`Claim::Acquired`];
    /// - a live record with another fingerprint (in progress or completed) → [`Claim::Mismatch`];
    /// - a live in-progress record → [`Claim::InProgress`], with the time left on its lease;
    /// - a completed record within its retention → [`Claim::Completed`].
    ///
    /// `retention` bounds how long the in-progress record may be kept for its holder to complete: it is
    /// never collected before `now + lease + retention`.
    fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Completes the record with `response`, replayed until `now + retention`; succeeds iff the record is
    /// in progress and still holds `token` (even if its lease lapsed, as long as no one took it over).
    /// Otherwise — absent, released, completed, taken over — [`StoreError::LeaseLost`].
    fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Moves the lease deadline to `now + lease`, on the same terms as `complete`: iff the record is in
    /// progress and holds `token`, else [`StoreError::LeaseLost`].
    fn extend(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        lease: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the record iff it is in progress and holds `token` (lapsed or not); a no-op otherwise. A
    /// completed record is never released.
    fn release(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes up to `limit` records that are over: completed past their retention, and in-progress ones
    /// past `lease + retention` from their last claim or extension. Returns how many it deleted; a caller
    /// collecting everything calls again while that equals `limit`.
    fn purge_expired(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// A shared store is a store: `Idempotency` and the layer hold theirs behind an `Arc`.
impl<S: IdempotencyStore + ?Sized> IdempotencyStore for std::sync::Arc<S> {
    fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).claim(key, fingerprint, lease, retention, now)
    }

    fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).complete(key, token, response, retention, now)
    }

    fn extend(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        lease: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).extend(key, token, lease, now)
    }

    fn release(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release(key, token, now)
    }

    fn purge_expired(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        (**self).purge_expired(now, limit)
    }
}
