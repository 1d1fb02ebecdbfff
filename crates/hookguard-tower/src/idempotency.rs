//! [`Idempotency`]: claim, complete and release around a handler, without tower.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookguard::{Clock, SystemClock};
use http::{HeaderName, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use crate::heartbeat::{self, Hold};
use crate::rejection::Rejection;
use crate::store::{Claim, IdempotencyKey, IdempotencyStore, StoreError, StoredResponse, Token};

/// The header a replayed response carries.
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a claim holds a key by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How long a completed response is replayed by default: 96 h. Standard Webhooks' retry schedule spans
/// 75 h 36 min, and about 91 h with +20 % jitter on every delay; a retention shorter than the sender's
/// schedule lets a late retry run the handler again.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(96 * 3600);

/// How long a claim may be held in all, by default, in leases: the heartbeat stops extending it after
/// `10 × lease`, so a hung handler's record lapses.
pub const DEFAULT_MAX_HOLD_LEASES: u32 = 10;

/// The SHA-256 of a payload: the fingerprint a claim is made with.
pub fn fingerprint(payload: &[u8]) -> [u8; 32] {
    Sha256::digest(payload).into()
}

/// Whether a handler's response counts as done by default: 2xx, or a 4xx other than 408, 409, 425 and 429.
///
/// A done response is stored and replayed; any other releases the claim so that the sender's retry runs
/// the handler again.
pub fn default_done(status: StatusCode) -> bool {
    status.is_success()
        || (status.is_client_error() && !matches!(status.as_u16(), 408 | 409 | 425 | 429))
}

/// Deduplication around a handler, for code that verifies inside the handler rather than behind the layer.
///
/// ```
/// use bytes::Bytes;
/// use hookguard_tower::{Idempotency, RunOutcome, fingerprint, store::MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let idem = Idempotency::new(MemoryStore::new());
/// let key = "github:5f1c…".into();
/// let body = b"{\"action\":\"opened\"}";
/// let handle = || async { http::Response::new(Bytes::from_static(b"thanks")) };
/// let first = idem.run(&key, fingerprint(body), handle).await?;
/// assert!(matches!(first, RunOutcome::Fresh(_)));
/// let again = idem.run(&key, fingerprint(body), handle).await?.into_http_response();
/// assert_eq!(again.headers()["idempotent-replayed"], "true");
/// assert_eq!(again.body(), "thanks");
/// # Ok::<_, hookguard_tower::store::StoreError>(())
/// # }).unwrap();
/// ```
pub struct Idempotency<S> {
    store: Arc<S>,
    lease: Duration,
    max_hold: Option<Duration>,
    retention: Duration,
    replay_limit: usize,
    done: fn(StatusCode) -> bool,
    clock: Arc<dyn Clock>,
}

impl<S> Clone for Idempotency<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            lease: self.lease,
            max_hold: self.max_hold,
            retention: self.retention,
            replay_limit: self.replay_limit,
            done: self.done,
            clock: Arc::clone(&self.clock),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Idempotency<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotency")
            .field("store", &self.store)
            .field("lease", &self.lease)
            .field("max_hold", &Hold::new(self.lease, self.max_hold).max_hold)
            .field("retention", &self.retention)
            .field("replay_limit", &self.replay_limit)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<S: IdempotencyStore> Idempotency<S> {
    /// Deduplicates with `store`, a 60 s lease (extended while the handler runs, for up to 10 min), a 96 h
    /// retention and the system clock.
    pub fn new(store: S) -> Self {
        Self {
            store: Arc::new(store),
            lease: DEFAULT_LEASE,
            max_hold: None,
            retention: DEFAULT_RETENTION,
            replay_limit: crate::WebhookLayer::DEFAULT_REPLAY_LIMIT,
            done: default_done,
            clock: Arc::new(SystemClock),
        }
    }

    /// How long a claim holds the key before another delivery may take it over, unless extended:
    /// [`run`](Self::run) extends it every `lease / 3` while the handler runs.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long [`run`](Self::run) keeps extending a claim (default 10 × the lease); past it a hung
    /// handler's claim lapses and the next delivery takes over.
    #[must_use]
    pub fn max_hold(mut self, max_hold: Duration) -> Self {
        self.max_hold = Some(max_hold);
        self
    }

    /// Reads "now" from `clock`: pass the verifier's ([`Verifier::clock`](hookguard::Verifier::clock)) so one
    /// test clock drives signatures and leases alike.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How long a completed response is replayed.
    #[must_use]
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The longest response body [`run`](Self::run) stores for replay (default 64 KiB, as the layer's); a
    /// longer one is replayed with its status and headers but an empty body, rather than filling the store.
    #[must_use]
    pub fn replay_limit(mut self, bytes: usize) -> Self {
        self.replay_limit = bytes;
        self
    }

    /// Which responses [`run`](Self::run) stores; the others release the claim. Default: [`default_done`].
    #[must_use]
    pub fn done(mut self, done: fn(StatusCode) -> bool) -> Self {
        self.done = done;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Claims `key` for a payload with this fingerprint, for the configured lease.
    pub async fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
    ) -> Result<Claim, StoreError> {
        let claim = self
            .store
            .claim(
                key,
                fingerprint,
                self.lease,
                self.retention,
                self.clock.now(),
            )
            .await;
        crate::metrics::claim(&claim);
        claim
    }

    /// Stores `response` for replay, for the configured retention.
    pub async fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
    ) -> Result<(), StoreError> {
        self.store
            .complete(key, token, response, self.retention, self.clock.now())
            .await
    }

    /// Moves the claim's lease deadline to a full lease from now.
    pub async fn extend(&self, key: &IdempotencyKey, token: &Token) -> Result<(), StoreError> {
        self.store
            .extend(key, token, self.lease, self.clock.now())
            .await
    }

    /// Gives the key up so that the next delivery runs the handler again.
    pub async fn release(&self, key: &IdempotencyKey, token: &Token) -> Result<(), StoreError> {
        self.store.release(key, token, self.clock.now()).await
    }

    /// Runs `handler` at most once per key and payload.
    ///
    /// A fresh claim runs it, extending the claim every `lease / 3` while it runs (up to
    /// [`max_hold`](Self::max_hold)), then stores its response if it is done (else releases the claim); if
    /// this future is dropped while the handler runs, the claim is released in the background. A failure to
    /// store or release is logged, not returned: the handler has run. Only a failed claim is an error.
    ///
    /// Extending needs a tokio runtime with timers enabled, as servers have, once the handler has to wait.
    pub async fn run<F, Fut>(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        handler: F,
    ) -> Result<RunOutcome, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = http::Response<Bytes>>,
    {
        let token = match self.claim(key, fingerprint).await? {
            Claim::Acquired { token, took_over } => {
                if took_over {
                    tracing::info!(%key, "took over a claim whose lease lapsed");
                }
                token
            }
            Claim::InProgress { retry_after } => return Ok(RunOutcome::InProgress { retry_after }),
            Claim::Completed(stored) => return Ok(RunOutcome::Replayed(replay(&stored))),
            Claim::Mismatch => return Ok(RunOutcome::Mismatch),
        };
        let mut guard = ReleaseGuard::new(
            Arc::clone(&self.store),
            key.clone(),
            token,
            Arc::clone(&self.clock),
        );
        let hold = Hold::new(self.lease, self.max_hold);
        let beat = heartbeat::keep_alive(&*self.store, key, token, hold, &*self.clock);
        let response = heartbeat::alongside(handler(), beat).await;
        let completing = (self.done)(response.status());
        let result = if completing {
            let body = if response.body().len() <= self.replay_limit {
                response.body().clone()
            } else {
                tracing::warn!(%key, limit = self.replay_limit, "response body longer than the replay limit; it will be replayed without a body");
                Bytes::new()
            };
            let mut stored = StoredResponse::new(response.status(), body);
            for ct in response.headers().get_all(http::header::CONTENT_TYPE) {
                stored = stored.with_header(http::header::CONTENT_TYPE, ct.clone());
            }
            self.complete(key, &token, stored).await
        } else {
            self.release(key, &token).await
        };
        guard.disarm();
        crate::metrics::finished(key, completing, result);
        Ok(RunOutcome::Fresh(response))
    }
}

/// What [`Idempotency::run`] did.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunOutcome {
    /// The handler ran; here is its response.
    Fresh(http::Response<Bytes>),
    /// The handler had already run for this payload; here is its stored response, marked replayed.
    Replayed(http::Response<Bytes>),
    /// Another delivery of this event is running the handler.
    InProgress {
        /// When to try again.
        retry_after: Duration,
    },
    /// The key was used for another payload.
    Mismatch,
}

impl RunOutcome {
    /// The response to send: the handler's, the replay, or a problem document (409 with `Retry-After`, 422).
    pub fn into_http_response(self) -> http::Response<Bytes> {
        match self {
            Self::Fresh(res) | Self::Replayed(res) => res,
            Self::InProgress { retry_after } => {
                Rejection::InProgress { retry_after }.to_problem_response()
            }
            Self::Mismatch => Rejection::Mismatch.to_problem_response(),
        }
    }
}

/// The replay of a stored response, marked with `Idempotent-Replayed: true`.
pub(crate) fn replay(stored: &StoredResponse) -> http::Response<Bytes> {
    let mut res = stored.to_response();
    res.headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    res
}

/// Releases a claim in the background if dropped while armed (the request was abandoned mid-handler).
pub(crate) struct ReleaseGuard<S: IdempotencyStore> {
    held: Option<Held<S>>,
}

/// A claim held by a [`ReleaseGuard`]: where to release it, and the clock to release it at.
struct Held<S> {
    store: S,
    key: IdempotencyKey,
    token: Token,
    clock: Arc<dyn Clock>,
}

impl<S: IdempotencyStore> ReleaseGuard<S> {
    pub(crate) fn new(store: S, key: IdempotencyKey, token: Token, clock: Arc<dyn Clock>) -> Self {
        Self {
            held: Some(Held {
                store,
                key,
                token,
                clock,
            }),
        }
    }

    pub(crate) fn token(&self) -> Option<crate::store::Token> {
        self.held.as_ref().map(|held| held.token)
    }

    pub(crate) fn disarm(&mut self) {
        self.held = None;
    }
}

impl<S: IdempotencyStore> fmt::Debug for ReleaseGuard<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReleaseGuard")
            .field("armed", &self.held.is_some())
            .finish()
    }
}

impl<S: IdempotencyStore> Drop for ReleaseGuard<S> {
    fn drop(&mut self) {
        let Some(Held {
            store,
            key,
            token,
            clock,
        }) = self.held.take()
        else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(%key, "claim abandoned outside a tokio runtime; it lapses with its lease");
            return;
        };
        tracing::debug!(%key, "request dropped mid-handler; releasing its claim");
        runtime.spawn(async move {
            let result = store.release(&key, &token, clock.now()).await;
            crate::metrics::released(&result);
            if let Err(error) = result {
                tracing::warn!(%key, %error, "could not release an abandoned claim; it lapses with its lease");
            }
        });
    }
}
