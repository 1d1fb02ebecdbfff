//! [`WebhookLayer`]: the layer's configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookguard::{Verified, Verifier};
use http::{HeaderName, StatusCode};
use tower_layer::Layer;

use super::WebhookService;
use crate::heartbeat::Hold;
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
#[non_exhaustive]
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
    /// `None`: the default key (see [`WebhookLayer::key`]).
    pub(crate) key: Option<Arc<KeyFn>>,
    pub(crate) pass_through_without_key: bool,
    pub(crate) lease: Duration,
    pub(crate) max_hold: Option<Duration>,
    pub(crate) retention: Duration,
    pub(crate) on_store_error: OnStoreError,
    pub(crate) done: Arc<DoneFn>,
    pub(crate) replay_limit: usize,
    pub(crate) replay_headers: Vec<HeaderName>,
    pub(crate) rejection: Option<Arc<RejectFn>>,
    /// The store again, when it is a `PostgresStore`: requests then carry a claim handle for the inbox.
    #[cfg(all(feature = "postgres", feature = "axum"))]
    pub(crate) inbox: Option<crate::store::PostgresStore>,
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

    /// The lease and how long the heartbeat may keep extending it.
    pub(crate) fn hold(&self) -> Hold {
        Hold::new(self.lease, self.max_hold)
    }
}

/// The default idempotency key: `"{scheme}:{event id}"` when the scheme signs the id, otherwise
/// `"{scheme}:sha256:{fingerprint}"`.
pub(crate) fn default_key(verified: &Verified<'_>, fingerprint: &[u8; 32]) -> IdempotencyKey {
    let scheme = verified.scheme();
    match verified.id() {
        Some(id) if verified.id_is_signed() => joined(&[scheme, ":", id]),
        _ => {
            let mut hex = [0; 64];
            // 64 hex digits for 32 bytes: the buffer fits exactly, and the digits are UTF-8.
            match hex::encode_to_slice(fingerprint, &mut hex).map(|()| std::str::from_utf8(&hex)) {
                Ok(Ok(digits)) => joined(&[scheme, ":sha256:", digits]),
                _ => joined(&[scheme, ":sha256:", &hex::encode(fingerprint)]),
            }
        }
    }
}

/// `parts` as one key, joined on the stack so that the key's own allocation is the only one: `format!` or
/// a `String` would cost more than the rest of the key together.
fn joined(parts: &[&str]) -> IdempotencyKey {
    let mut buf = [0; IdempotencyKey::MAX_LEN];
    let mut len = 0;
    for part in parts {
        let Some(to) = buf.get_mut(len..len + part.len()) else {
            // Longer than a key is kept: it is hashed anyway.
            return IdempotencyKey::new(parts.concat());
        };
        to.copy_from_slice(part.as_bytes());
        len += part.len();
    }
    // Whole strings joined are UTF-8: the fallback is never taken.
    std::str::from_utf8(&buf[..len])
        .map_or_else(|_| IdempotencyKey::new(parts.concat()), IdempotencyKey::of)
}

/// Headers that frame a message or belong to one connection: replaying a stored one would corrupt the
/// replayed response.
const NOT_REPLAYABLE: [HeaderName; 10] = [
    http::header::CONNECTION,
    http::header::CONTENT_LENGTH,
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    http::header::TE,
    http::header::TRAILER,
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// [`WebhookLayer::replay_header`] was asked to keep a header that cannot be replayed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {0} header cannot be replayed: it frames the message or belongs to one connection")]
pub struct NotReplayable(pub HeaderName);

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
                key: None,
                pass_through_without_key: false,
                lease: DEFAULT_LEASE,
                max_hold: None,
                retention: DEFAULT_RETENTION,
                on_store_error: OnStoreError::FailClosed,
                done: Arc::new(default_done),
                replay_limit: Self::DEFAULT_REPLAY_LIMIT,
                replay_headers: vec![http::header::CONTENT_TYPE],
                rejection: None,
                #[cfg(all(feature = "postgres", feature = "axum"))]
                inbox: None,
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
    ///
    /// With a `PostgresStore` (features `postgres` + `axum`), handlers may also commit their effect
    /// together with the record: see `hookguard_tower::inbox`.
    pub fn idempotency(self, store: impl IdempotencyStore + fmt::Debug) -> Self {
        self.with(|c| {
            #[cfg(all(feature = "postgres", feature = "axum"))]
            {
                let any: &dyn std::any::Any = &store;
                c.inbox = any.downcast_ref::<crate::store::PostgresStore>().cloned();
            }
            c.store = Some(BoxedStore::new(store));
        })
    }

    /// How a request's idempotency key is found.
    ///
    /// The default is `"{scheme}:{event id}"` **only when the scheme signs the id** (Standard Webhooks;
    /// [`Verified::id_is_signed`]), otherwise `"{scheme}:sha256:{SHA-256 of the body}"`. GitHub's
    /// `X-GitHub-Delivery` and Shopify's id headers are not signed, and neither scheme signs a timestamp:
    /// keyed by such an id, one captured request could be replayed under fresh ids forever, or a future id
    /// pre-claimed so that the real event gets 422. Keyed by the body, a retry or replay of the same bytes
    /// is deduplicated; the trade-off is that two distinct events with byte-identical bodies count as one
    /// (GitHub and Shopify bodies carry the object's ids and timestamps, so that takes a replay).
    ///
    /// The function sees the verified signature, the request head and the body, so it can read a key from
    /// the signed payload, as Stripe's event id, which is in the JSON body:
    ///
    /// ```
    /// use hookguard::{Scheme, Verifier};
    /// use hookguard_tower::{Rejection, WebhookLayer, store::{IdempotencyKey, MemoryStore}};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct StripeEvent<'a> {
    ///     id: &'a str,
    /// }
    ///
    /// # fn main() -> Result<(), hookguard::KeyError> {
    /// let verifier = Verifier::new(Scheme::stripe(), "whsec_stripe_test_secret_0123456789")?;
    /// let layer = WebhookLayer::new(verifier)
    ///     .idempotency(MemoryStore::new())
    ///     .key(|_verified, _head, body| {
    ///         let event: StripeEvent<'_> = serde_json::from_slice(body)
    ///             .map_err(|_| Rejection::InvalidPayload("the body is not a Stripe event".into()))?;
    ///         Ok(Some(IdempotencyKey::new(format!("stripe:{}", event.id))))
    ///     });
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// `Ok(None)` means "no key": a 400 unless [`pass_through_without_key`](Self::pass_through_without_key);
    /// `Err` rejects the request.
    ///
    /// A sender delivers one event under one id (and one body) to every endpoint subscribed to it. If one
    /// store serves several webhook routes, put the route in the key (say `"{path}:{event id}"`), or a route
    /// would be answered with another route's stored response.
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
        self.with(|c| c.key = Some(Arc::new(key)))
    }

    /// Lets requests for which the [`key`](Self::key) function finds no key through to the handler, without
    /// deduplication, instead of answering 400.
    #[must_use]
    pub fn pass_through_without_key(self) -> Self {
        self.with(|c| c.pass_through_without_key = true)
    }

    /// How long a completed response is replayed (default 96 h). Keep it longer than the sender's whole
    /// retry schedule, jitter included, or a late retry runs the handler again.
    #[must_use]
    pub fn retention(self, retention: Duration) -> Self {
        self.with(|c| c.retention = retention)
    }

    /// How long a claim holds the key before another delivery may take it over (default 60 s). While the
    /// handler runs, the layer extends the lease every `lease / 3`, up to [`max_hold`](Self::max_hold); a
    /// process that dies stops extending, and the next delivery takes over once the lease lapses.
    ///
    /// Extending needs a tokio runtime with timers enabled (as servers have) once a handler has to wait.
    #[must_use]
    pub fn lease(self, lease: Duration) -> Self {
        self.with(|c| c.lease = lease)
    }

    /// How long in all a handler may hold its claim (default 10 × the lease). Past it the layer stops
    /// extending, so a hung handler's claim lapses and a redelivery runs the handler again.
    #[must_use]
    pub fn max_hold(self, max_hold: Duration) -> Self {
        self.with(|c| c.max_hold = Some(max_hold))
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
    ///
    /// # Errors
    /// [`NotReplayable`] for a header that frames the message or belongs to one connection
    /// (`Content-Length`, `Transfer-Encoding`, `Connection`, `Keep-Alive`, `TE`, `Trailer`, `Upgrade`,
    /// the `Proxy-*` ones): the server computes those for the replayed response.
    pub fn replay_header(self, name: HeaderName) -> Result<Self, NotReplayable> {
        if NOT_REPLAYABLE.contains(&name) {
            return Err(NotReplayable(name));
        }
        Ok(self.with(|c| c.replay_headers.push(name)))
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
            .field("custom_key", &self.key.is_some())
            .field("pass_through_without_key", &self.pass_through_without_key)
            .field("lease", &self.lease)
            .field("max_hold", &self.hold().max_hold)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_and_hop_by_hop_headers_are_not_replayable() {
        let verifier = Verifier::new(
            hookguard::Scheme::standard_webhooks(),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .unwrap();
        let layer = WebhookLayer::new(verifier);
        for name in NOT_REPLAYABLE {
            let refused = layer.clone().replay_header(name.clone()).unwrap_err();
            assert_eq!(refused, NotReplayable(name.clone()));
            assert!(refused.to_string().contains(name.as_str()));
        }
        let kept = layer
            .replay_header(HeaderName::from_static("location"))
            .unwrap();
        assert!(kept.config.replay_headers.contains(&http::header::LOCATION));
    }

    #[test]
    fn default_keys_are_the_signed_id_or_the_fingerprint_and_long_ones_are_hashed() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let scheme = hookguard::Scheme::standard_webhooks();
        let signer = hookguard::Signer::new(scheme.clone(), secret).unwrap();
        let verifier = Verifier::new(scheme, secret).unwrap();
        let body = b"{}";
        let key_for = |id: &str| {
            let now = verifier.clock().now_unix();
            let headers = signer.sign(id, now, body).unwrap();
            let verified = verifier.verify(&headers, body).unwrap();
            default_key(&verified, &crate::fingerprint(body))
        };
        assert_eq!(key_for("msg_1").as_str(), "standard-webhooks:msg_1");
        let at_limit = "i".repeat(IdempotencyKey::MAX_LEN - "standard-webhooks:".len());
        assert_eq!(
            key_for(&at_limit).as_str(),
            format!("standard-webhooks:{at_limit}")
        );
        let over = format!("{at_limit}i");
        assert_eq!(
            key_for(&over),
            IdempotencyKey::new(format!("standard-webhooks:{over}"))
        );
        assert!(key_for(&over).as_str().starts_with("sha256:"));

        let github = hookguard::Scheme::github();
        let signer = hookguard::Signer::new(github.clone(), secret).unwrap();
        let verifier = Verifier::new(github, secret).unwrap();
        let headers = signer.sign("delivery-1", 0, body).unwrap();
        let verified = verifier.verify(&headers, body).unwrap();
        assert_eq!(
            default_key(&verified, &[0xab; 32]).as_str(),
            format!("github:sha256:{}", "ab".repeat(32))
        );
    }
}
