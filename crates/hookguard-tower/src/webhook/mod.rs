//! The webhook middleware: [`WebhookLayer`], [`WebhookService`], [`ResponseFuture`].
//!
//! For every request the service
//! 1. buffers the body up to [`body_limit`](WebhookLayer::body_limit) (default 1 MiB): a longer one (by its
//!    `Content-Length`, or once the limit is passed while reading) → **413**, without reading the rest;
//! 2. verifies the signature: a missing header, or one present in which nothing parses → **400**; a
//!    signature that parses but matches no key, or a stale or future timestamp → **401**;
//! 3. with a store ([`idempotency`](WebhookLayer::idempotency)), claims the request's key (by default
//!    `"{scheme}:{event id}"` where the scheme signs the id, else `"{scheme}:sha256:{body hash}"`; see
//!    [`key`](WebhookLayer::key)) with the SHA-256 of the body: a delivery in progress → **409** with
//!    `Retry-After`; a completed one → its stored response replayed with `Idempotent-Replayed: true`, the
//!    inner service not called; the key used for another payload → **422**; the store failing → **503**
//!    (fail-closed, the default) or the inner service without deduplication (fail-open);
//! 4. calls the inner service with an `http::Request<Full<Bytes>>` whose extensions hold the
//!    [`Verified`](hookguard::Verified) signature (owned), extending the claim every `lease / 3` while it
//!    runs (up to [`max_hold`](WebhookLayer::max_hold));
//! 5. stores a "done" response (2xx, or a 4xx other than 408, 409, 425, 429) for replay, or releases the
//!    claim for anything else so the sender's retry runs the handler again. If the request is dropped
//!    mid-handler (the client went away), the claim is released in the background.
//!
//! Rejections are `application/problem+json` documents (RFC 9457) whose `type` is stable
//! (`https://hookguard.dev/problems/signature-mismatch`, …); the [`Rejection`](crate::Rejection) is also
//! in the response's extensions, and [`WebhookLayer::rejection`] replaces the default body.
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use hookguard::{Clock, Scheme, Signer, SystemClock, Verifier};
//! use hookguard_tower::{WebhookLayer, store::MemoryStore};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let verifier = Verifier::new(Scheme::standard_webhooks(), secret)?;
//! let service = ServiceBuilder::new()
//!     .layer(WebhookLayer::new(verifier).idempotency(MemoryStore::new()))
//!     .service_fn(|_req: http::Request<Full<Bytes>>| async {
//!         Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"thanks"))))
//!     });
//!
//! let body = br#"{"type":"invoice.paid"}"#;
//! let headers = Signer::new(Scheme::standard_webhooks(), secret)?.sign("msg_1", SystemClock.now_unix(), body)?;
//! let mut request = http::Request::post("/webhooks").body(Full::new(Bytes::from_static(body)))?;
//! request.headers_mut().extend(headers);
//! let response = service.clone().oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//!
//! let unsigned = http::Request::post("/webhooks").body(Full::new(Bytes::from_static(body)))?;
//! assert_eq!(service.oneshot(unsigned).await?.status(), 400);
//! # Ok(())
//! # }
//! ```
//!
//! # Security
//! - Verification needs the body byte for byte, so the whole body (up to the limit) is held in memory
//!   before the signature is checked; keep the limit small.
//! - Deduplication is by key. Only a signed id is trusted as one: GitHub's and Shopify's id headers are
//!   not signed, so those schemes (and Slack and Stripe, which send none in a header) are keyed by the
//!   body's hash by default. For Stripe, key by the `id` in the signed JSON body ([`key`](WebhookLayer::key)
//!   shows how).
//! - Time: the layer and its store read the verifier's clock ([`Verifier::with_clock`](hookguard::Verifier::with_clock)).
//!   Networked stores compare lease deadlines on the server's clock, so skewed replicas agree.
//! - Fail-open trades deduplication for availability: while the store is down a delivery may run twice.

mod body;
mod future;
mod layer;
mod service;

pub use self::body::ResponseBody;
pub use self::future::ResponseFuture;
pub use self::layer::{NotReplayable, OnStoreError, WebhookLayer};
pub use self::service::WebhookService;
