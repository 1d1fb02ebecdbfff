//! [`WebhookLayer`]: the layer's configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookguard::{Verified, Verifier};
use http::{HeaderName, StatusCode};
use tower_layer::Layer;

use super::WebhookService;
use crate::idempotency::{DEFAULT_LEASE, DEFAULT_RETENTION, default_done};
use crate::rejection::Rejection;
use crate::store::{BoxedStore, IdempotencyKey, IdempotencyStore};

type KeyFn = dyn Fn(&Verified<'_>, &http::request::Parts, &Bytes) -> Result<Option<IdempotencyKey>, Rejection>
    + Send
    + Sync;
type DoneFn = dyn Fn(StatusCode) -> bool + Send + Sync;
type RejectFn = dyn Fn(&Rejection) -> http::Response<Bytes> + Send + Sync;

/// What the layer does when the idempotency store fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnStoreError {
    /// Answer 503 with `Retry-After`; the sender retries later (the default).
    #[default]
    FailClosed,
    /// Call the handler without deduplication, and log a warning: a delivery may then run twice.
    FailOpen,
}

/// Everything the service needs, shared by every clone of it.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) verifier: Verifier,
    pub(crate) body_limit: usize,
    pub(crate) store: Option<BoxedStore>,
    pub(crate) key: Arc<KeyFn>,
    pub(crate) pass_through_without_key: bool,
    pub(crate) lease: Duration,
    pub(crate) retention: Duration,
    pub(crate) on_store_error: OnStoreError,
    pub(crate) done: Arc<DoneFn>,
    pub(crate) replay_limit: usize,
    pub(crate) replay_headers: Vec<HeaderName>,
    pub(crate) rejection: Option<Arc<RejectFn>>,
}

impl Config {
    /// The response for a rejection: the custom closure's or the problem document, with the reason in the
    /// extensions and `Retry-After` (unless the closure set its own) either way.
    pub(crate) fn reject(&self, rejection: &Rejection) -> http::Response<Bytes> {
        let Some(custom) = &self.rejection else {
            return rejection.to_problem_response();
        };
        let mut res = custom(rejection);
        rejection.decorate(&mut res);
        res
    }
}

/// The default idempotency key: `"{scheme}:{event id}"`, none when the scheme carries no id.
fn default_key(
    verified: &Verified<'_>,
    _: &http::request::Parts,
    _: &Bytes,
) -> Result<Option<IdempotencyKey>, Rejection> {
    Ok(verified
        .id()
        .map(|id| IdempotencyKey::new(format!("{}:{id}", verified.scheme()))))
}

/// Verifies webhooks before they reach the inner service and, with a store, runs each event's handler once.
///
/// See the [module docs](crate::webhook) for what happens to a request. Cloning is cheap.
#[derive(Clone)]
pub struct WebhookLayer {
    config: Arc<Config>,
}

impl WebhookLayer {
    /// The default body limit: 1 MiB.
    pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;
    /// The default limit of a response body kept for replay: 64 KiB.
    pub const DEFAULT_REPLAY_LIMIT: usize = 64 << 10;

    /// Verifies every request with `verifier`; no deduplication until [`idempotency`](Self::idempotency).
    pub fn new(verifier: Verifier) -> Self {
        Self {
            config: Arc::new(Config {
                verifier,
                body_limit: Self::DEFAULT_BODY_LIMIT,
                store: None,
                key: Arc::new(default_key),
                pass_through_without_key: false,
                lease: DEFAULT_LEASE,
                retention: DEFAULT_RETENTION,
                on_store_error: OnStoreError::FailClosed,
                done: Arc::new(default_done),
                replay_limit: Self::DEFAULT_REPLAY_LIMIT,
                replay_headers: vec![http::header::CONTENT_TYPE],
                rejection: None,
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// The longest body accepted (default 1 MiB); longer ones get 413 without being read to the end.
    #[must_use]
    pub fn body_limit(self, bytes: usize) -> Self {
        self.with(|c| c.body_limit = bytes)
    }

    /// Deduplicates deliveries with `store`.
    #[must_use]
    pub fn idempotency(self, store: impl IdempotencyStore + fmt::Debug) -> Self {
        self.with(|c| c.store = Some(BoxedStore::new(store)))
    }

    /// How a request's idempotency key is found (default: `"{scheme}:{event id}"`).
    ///
    /// The function sees the verified signature, the request head and the body, so it can read a key from
    /// the payload (Stripe's event id is in the JSON body). `Ok(None)` means "no key": a 400 unless
    /// [`pass_through_without_key`](Self::pass_through_without_key); `Err` rejects the request.
    ///
    /// A sender delivers one event under one id to every endpoint subscribed to it. If one store serves
    /// several webhook routes of the same scheme, put the route in the key (say `"{path}:{event id}"`), or
    /// a route would be answered with another route's stored response.
    #[must_use]
    pub fn key<F>(self, key: F) -> Self
    where
        F: Fn(
                &Verified<'_>,
                &http::request::Parts,
                &Bytes,
            ) -> Result<Option<IdempotencyKey>, Rejection>
            + Send
            + Sync
            + 'static,
    {
        self.with(|c| c.key = Arc::new(key))
    }

    /// Lets requests without an idempotency key through to the handler, without deduplication, instead of
    /// answering 400 (for schemes without event ids, such as Slack).
    #[must_use]
    pub fn pass_through_without_key(self) -> Self {
        self.with(|c| c.pass_through_without_key = true)
    }

    /// How long a completed response is replayed (default 76 h).
    #[must_use]
    pub fn retention(self, retention: Duration) -> Self {
        self.with(|c| c.retention = retention)
    }

    /// How long a claim holds the key before another delivery may take it over (default 60 s). Make it
    /// longer than the handler's slowest run.
    #[must_use]
    pub fn lease(self, lease: Duration) -> Self {
        self.with(|c| c.lease = lease)
    }

    /// What to do when the store fails (default [`OnStoreError::FailClosed`]).
    #[must_use]
    pub fn on_store_error(self, policy: OnStoreError) -> Self {
        self.with(|c| c.on_store_error = policy)
    }

    /// Which handler responses are stored and replayed; the others release the claim so the sender's retry
    /// runs the handler again. Default: [`default_done`](crate::default_done).
    #[must_use]
    pub fn done(self, done: impl Fn(StatusCode) -> bool + Send + Sync + 'static) -> Self {
        self.with(|c| c.done = Arc::new(done))
    }

    /// The longest response body stored for replay (default 64 KiB). A longer one is returned in full, but
    /// stored without its body.
    #[must_use]
    pub fn replay_limit(self, bytes: usize) -> Self {
        self.with(|c| c.replay_limit = bytes)
    }

    /// Keeps this response header for replay too (`Content-Type` always is).
    #[must_use]
    pub fn replay_header(self, name: HeaderName) -> Self {
        self.with(|c| c.replay_headers.push(name))
    }

    /// Builds the response for a rejection instead of the default problem document. The rejection is still
    /// added to the response's extensions.
    #[must_use]
    pub fn rejection(
        self,
        f: impl Fn(&Rejection) -> http::Response<Bytes> + Send + Sync + 'static,
    ) -> Self {
        self.with(|c| c.rejection = Some(Arc::new(f)))
    }
}

impl<S> Layer<S> for WebhookLayer {
    type Service = WebhookService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WebhookService::from_config(inner, Arc::clone(&self.config))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookLayer")
            .field("verifier", &self.verifier)
            .field("body_limit", &self.body_limit)
            .field("store", &self.store)
            .field("pass_through_without_key", &self.pass_through_without_key)
            .field("lease", &self.lease)
            .field("retention", &self.retention)
            .field("on_store_error", &self.on_store_error)
            .field("replay_limit", &self.replay_limit)
            .field("replay_headers", &self.replay_headers)
            .field("custom_rejection", &self.rejection.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WebhookLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.config, f)
    }
}
