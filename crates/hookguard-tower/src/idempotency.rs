//! [`Idempotency`]: claim, complete and release around a handler, without tower.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use crate::rejection::Rejection;
use crate::store::{Claim, IdempotencyKey, IdempotencyStore, StoreError, StoredResponse, Token};

/// The header a replayed response carries.
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a claim holds a key by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How long a completed response is replayed by default: 76 h, longer than Standard Webhooks' retry
/// schedule (75 h 36 min).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(76 * 3600);

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
    retention: Duration,
    replay_limit: usize,
    done: fn(StatusCode) -> bool,
}

impl<S> Clone for Idempotency<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            lease: self.lease,
            retention: self.retention,
            replay_limit: self.replay_limit,
            done: self.done,
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Idempotency<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotency")
            .field("store", &self.store)
            .field("lease", &self.lease)
            .field("retention", &self.retention)
            .field("replay_limit", &self.replay_limit)
            .finish_non_exhaustive()
    }
}

impl<S: IdempotencyStore> Idempotency<S> {
    /// Deduplicates with `store`, a 60 s lease and a 76 h retention.
    pub fn new(store: S) -> Self {
        Self {
            store: Arc::new(store),
            lease: DEFAULT_LEASE,
            retention: DEFAULT_RETENTION,
            replay_limit: crate::WebhookLayer::DEFAULT_REPLAY_LIMIT,
            done: default_done,
        }
    }

    /// How long a claim holds the key before another delivery may take it over. Make it longer than the
    /// handler's slowest run.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
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
        let claim = self.store.claim(key, fingerprint, self.lease).await;
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
            .complete(key, token, response, self.retention)
            .await
    }

    /// Gives the key up so that the next delivery runs the handler again.
    pub async fn release(&self, key: &IdempotencyKey, token: &Token) -> Result<(), StoreError> {
        self.store.release(key, token).await
    }

    /// Runs `handler` at most once per key and payload.
    ///
    /// A fresh claim runs it, then stores its response if it is done (else releases the claim); if this
    /// future is dropped while the handler runs, the claim is released in the background. A failure to store
    /// or release is logged, not returned: the handler has run. Only a failed claim is an error.
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
            Claim::Acquired(token) => token,
            Claim::InProgress { retry_after } => return Ok(RunOutcome::InProgress { retry_after }),
            Claim::Completed(stored) => return Ok(RunOutcome::Replayed(replay(&stored))),
            Claim::Mismatch => return Ok(RunOutcome::Mismatch),
        };
        let mut guard = ReleaseGuard::new(Arc::clone(&self.store), key.clone(), token);
        let response = handler().await;
        let completing = (self.done)(response.status());
        let result = if completing {
            let body = if response.body().len() <= self.replay_limit {
                response.body().clone()
            } else {
                tracing::warn!(%key, limit = self.replay_limit, "response body longer than the replay limit; it will be replayed without a body");
                Bytes::new()
            };
            let mut stored = StoredResponse::new(response.status(), body);
            if let Some(ct) = response.headers().get(http::header::CONTENT_TYPE) {
                stored
                    .headers
                    .push((http::header::CONTENT_TYPE, ct.clone()));
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
    held: Option<(Arc<S>, IdempotencyKey, Token)>,
}

impl<S: IdempotencyStore> ReleaseGuard<S> {
    pub(crate) fn new(store: Arc<S>, key: IdempotencyKey, token: Token) -> Self {
        Self {
            held: Some((store, key, token)),
        }
    }

    pub(crate) fn token(&self) -> Option<crate::store::Token> {
        self.held.as_ref().map(|(_, _, token)| *token)
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
        let Some((store, key, token)) = self.held.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(%key, "claim abandoned outside a tokio runtime; it lapses with its lease");
            return;
        };
        tracing::debug!(%key, "request dropped mid-handler; releasing its claim");
        runtime.spawn(async move {
            let result = store.release(&key, &token).await;
            crate::metrics::released(&result);
            if let Err(error) = result {
                tracing::warn!(%key, %error, "could not release an abandoned claim; it lapses with its lease");
            }
        });
    }
}
