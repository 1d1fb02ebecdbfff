//! [`ResponseFuture`]: Buffer → Verify → Claim → Inner → Record.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use hookguard::Verified;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;
use tracing::Span;

use super::ResponseBody;
use super::layer::{Config, OnStoreError, default_key};
use crate::heartbeat;
use crate::idempotency::{ReleaseGuard, fingerprint, replay};
use crate::metrics;
use crate::rejection::Rejection;
use crate::store::{
    BoxError, BoxedStore, Claim, IdempotencyKey, IdempotencyStore, StoreError, StoredResponse,
};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// The response future of [`WebhookService`](crate::WebhookService).
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<Full<Bytes>>>,
        ReqBody: Body,
        ReqBody::Error: Into<BoxError>,
    {
        #[pin]
        state: State<S::Future, ReqBody, ResBody>,
        ctx: Ctx<S>,
        // Apart from `ctx`, so that `poll` can enter it while the states borrow `ctx` (a clone per poll
        // would cost a clone and its drop).
        span: Span,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, ReqBody, ResBody>
    where
        ReqBody: Body,
        ReqBody::Error: Into<BoxError>,
    {
        // Reading the request body, up to the limit.
        Buffer { #[pin] body: ReqBody, buf: Collected },
        // Waiting for the store's answer to the claim.
        Claim { claim: PendingClaim },
        // Waiting for the inner service; once it has to wait, a heartbeat extends the claim.
        Inner { #[pin] future: F, heartbeat: Option<BoxFuture<()>> },
        // Reading the handler's response body for replay.
        Collect { parts: Option<http::response::Parts>, body: Option<Pin<Box<ResBody>>>, buf: Collected },
        // Waiting for the store to complete or release the claim.
        Record {
            record: Finishing,
            response: Option<Response<ResponseBody<ResBody>>>,
        },
        // Holding the final response.
        Ready { response: Option<Response<ResponseBody<ResBody>>> },
    }
}

/// A claim on its way to the store. If the request is dropped before the answer arrives (the client went
/// away), the claim is driven to its end in the background and released if it was acquired, so that a
/// remote store does not hold the key until the lease lapses.
struct PendingClaim {
    future: Option<BoxFuture<Result<Claim, StoreError>>>,
    key: IdempotencyKey,
    config: Arc<Config>,
}

impl PendingClaim {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Claim, StoreError>> {
        let Some(future) = self.future.as_mut() else {
            unreachable!("the claim is polled until it answers, once")
        };
        let claim = ready!(future.as_mut().poll(cx));
        self.future = None;
        Poll::Ready(claim)
    }
}

impl Drop for PendingClaim {
    fn drop(&mut self) {
        let Some(future) = self.future.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (key, config) = (self.key.clone(), Arc::clone(&self.config));
        runtime.spawn(async move {
            if let (Ok(Claim::Acquired { token, .. }), Some(store)) = (future.await, &config.store)
            {
                tracing::debug!(%key, "request dropped while claiming; releasing the claim");
                let now = config.verifier.clock().now();
                let result = store.release(&key, &token, now).await;
                metrics::released(&result);
            }
        });
    }
}

/// The store call that ends a claim after the handler answered: `complete` (or `release`). If the request is
/// dropped before the store answers (the client went away once the handler had run), the call is finished in
/// the background: dropping it could lose a completed record, and the sender's retry would run the handler a
/// second time.
struct Finishing {
    future: Option<BoxFuture<Result<(), StoreError>>>,
    key: IdempotencyKey,
    completing: bool,
}

impl Finishing {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StoreError>> {
        let Some(future) = self.future.as_mut() else {
            unreachable!("the record is polled until it answers, once")
        };
        let result = ready!(future.as_mut().poll(cx));
        self.future = None;
        Poll::Ready(result)
    }
}

impl Drop for Finishing {
    fn drop(&mut self) {
        let Some(future) = self.future.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(key = %self.key, "record abandoned outside a tokio runtime; it lapses with its lease");
            return;
        };
        let (key, completing) = (self.key.clone(), self.completing);
        runtime.spawn(async move {
            tracing::debug!(%key, "request dropped while recording; finishing in the background");
            metrics::finished(&key, completing, future.await);
        });
    }
}

/// A body read so far, the request's or the handler's response's. A body that comes in one chunk (the
/// usual case) is kept as it came; only a second chunk makes the parts be copied into one buffer
/// (`http_body_util`'s `Collected` would queue the chunks in a `VecDeque`, an allocation per request).
#[derive(Default)]
struct Collected {
    first: Option<Bytes>,
    more: BytesMut,
}

impl Collected {
    fn push(&mut self, data: Bytes) {
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some(data);
            return;
        }
        if let Some(first) = self.first.take() {
            self.more.extend_from_slice(&first);
        }
        self.more.extend_from_slice(&data);
    }

    fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.more.len()
    }

    fn take(&mut self) -> Bytes {
        self.first
            .take()
            .unwrap_or_else(|| self.more.split().freeze())
    }
}

/// What the states share: the request as it is taken apart, and the claim.
struct Ctx<S> {
    config: Arc<Config>,
    inner: Option<S>,
    parts: Option<http::request::Parts>,
    body: Bytes,
    verified: Option<Verified<'static>>,
    key: Option<IdempotencyKey>,
    guard: Option<ReleaseGuard<BoxedStore>>,
    /// The claim as the inbox extractor sees it, when the store is a `PostgresStore`.
    #[cfg(all(feature = "postgres", feature = "axum"))]
    inbox: Option<crate::inbox::ClaimHandle>,
    scheme: &'static str,
    /// The `hookguard_webhooks_total` outcome once the handler answers without a claim to finish.
    unclaimed_outcome: &'static str,
}

impl<S, ReqBody, ResBody> ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<Full<Bytes>>>,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
{
    pub(crate) fn new(req: Request<ReqBody>, inner: S, config: Arc<Config>) -> Self {
        let scheme = config.verifier.scheme().name();
        let span = tracing::debug_span!("webhook", scheme, event_id = tracing::field::Empty);
        let (parts, body) = req.into_parts();
        // hyper's body knows its exact length from `Content-Length`; read the header (a lookup that costs
        // more than the rest of this function) only for a body that does not.
        let hint = body.size_hint();
        let declared = hint.exact().or_else(|| {
            parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        });
        let limit = config.body_limit;
        let ctx = Ctx {
            config,
            inner: Some(inner),
            parts: Some(parts),
            body: Bytes::new(),
            verified: None,
            key: None,
            guard: None,
            #[cfg(all(feature = "postgres", feature = "axum"))]
            inbox: None,
            scheme,
            unclaimed_outcome: "handled",
        };
        let state = if declared.is_some_and(|n| n > limit as u64) || hint.lower() > limit as u64 {
            // Refuse at once, without reading a byte of the body.
            span.in_scope(|| ctx.reject(Rejection::BodyTooLarge { limit }))
        } else {
            State::Buffer {
                body,
                buf: Collected::default(),
            }
        };
        Self { state, ctx, span }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let ctx = this.ctx;
        let span: &Span = this.span;
        let _entered = span.enter();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Buffer { mut body, buf } => match ready!(body.as_mut().poll_frame(cx)) {
                    Some(Ok(frame)) => {
                        let Ok(mut data) = frame.into_data() else {
                            // Trailers are not signed: nothing reads them.
                            continue;
                        };
                        let limit = ctx.config.body_limit;
                        if buf.len() + data.remaining() > limit {
                            ctx.reject(Rejection::BodyTooLarge { limit })
                        } else {
                            buf.push(data.copy_to_bytes(data.remaining()));
                            continue;
                        }
                    }
                    Some(Err(error)) => {
                        let error: BoxError = error.into();
                        tracing::debug!(%error, "request body unreadable");
                        ctx.reject(Rejection::BodyUnreadable)
                    }
                    None => ctx.verify(buf.take(), span),
                },
                StateProj::Claim { claim } => {
                    let claim = ready!(claim.poll(cx));
                    metrics::claim(&claim);
                    ctx.claimed(claim)
                }
                StateProj::Inner { future, heartbeat } => match future.poll(cx) {
                    // Dropping the guard (if armed) releases the claim in the background.
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Ready(Ok(response)) => ctx.handled(response),
                    Poll::Pending => {
                        if heartbeat.is_none() {
                            *heartbeat = ctx.heartbeat();
                        }
                        if let Some(beat) = heartbeat {
                            // Never ready: it stops when this state is left.
                            let _ = beat.as_mut().poll(cx);
                        }
                        return Poll::Pending;
                    }
                },
                StateProj::Collect { parts, body, buf } => {
                    let Some(stream) = body.as_mut() else {
                        unreachable!("body taken only on leaving the state")
                    };
                    match ready!(stream.as_mut().poll_frame(cx)) {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                buf.push(data);
                                if buf.len() > ctx.config.replay_limit {
                                    let (parts, body) = (parts.take(), body.take());
                                    ctx.collected(parts, buf.take(), body)
                                } else {
                                    continue;
                                }
                            } else {
                                // Trailers are not replayed.
                                continue;
                            }
                        }
                        Some(Err(error)) => {
                            let parts = parts.take();
                            ctx.body_failed(parts, error.into())
                        }
                        None => {
                            let parts = parts.take();
                            ctx.collected(parts, buf.take(), None)
                        }
                    }
                }
                StateProj::Record { record, response } => {
                    let result = ready!(record.poll(cx));
                    metrics::finished(&record.key, record.completing, result);
                    metrics::webhook(ctx.scheme, "handled");
                    return Poll::Ready(Ok(response
                        .take()
                        .expect("ResponseFuture polled after completion")));
                }
                StateProj::Ready { response } => {
                    return Poll::Ready(Ok(response
                        .take()
                        .expect("ResponseFuture polled after completion")));
                }
            };
            this.state.set(next);
        }
    }
}

impl<S> Ctx<S> {
    /// A rejection as the final state.
    fn reject<F, ReqBody: Body<Error: Into<BoxError>>, ResBody>(
        &self,
        rejection: Rejection,
    ) -> State<F, ReqBody, ResBody> {
        tracing::debug!(
            reason = rejection.kind(),
            status = rejection.status().as_u16(),
            "webhook rejected"
        );
        metrics::webhook(self.scheme, rejection.kind());
        let response = self.config.reject(&rejection).map(ResponseBody::full);
        State::Ready {
            response: Some(response),
        }
    }

    /// Verify, then claim (with a store) or call the inner service.
    fn verify<ReqBody: Body<Error: Into<BoxError>>, ResBody>(
        &mut self,
        body: Bytes,
        span: &Span,
    ) -> State<S::Future, ReqBody, ResBody>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        let Some(parts) = self.parts.as_ref() else {
            unreachable!("request head taken only on calling the inner service")
        };
        let started = Instant::now();
        let verified = self
            .config
            .verifier
            .verify(&parts.headers, &body)
            .map(Verified::into_owned);
        metrics::verify_seconds(started.elapsed().as_secs_f64());
        let verified = match verified {
            Ok(v) => v,
            Err(error) => return self.reject(Rejection::Verify(error)),
        };
        // A disabled span (no subscriber wants it) would only pass the value on to `log`'s fallback.
        if let Some(id) = verified.id().filter(|_| !span.is_disabled()) {
            span.record("event_id", id);
        }
        let Some(store) = self.config.store.clone() else {
            self.body = body;
            self.verified = Some(verified);
            return self.call_inner();
        };
        let fingerprint = fingerprint(&body);
        let key = match &self.config.key {
            None => Ok(Some(default_key(&verified, &fingerprint))),
            Some(key) => key(&verified, parts, &body),
        };
        let key = match key {
            Ok(Some(key)) => key,
            Ok(None) if self.config.pass_through_without_key => {
                tracing::debug!("no idempotency key; passing through without deduplication");
                self.body = body;
                self.verified = Some(verified);
                return self.call_inner();
            }
            Ok(None) => return self.reject(Rejection::MissingKey),
            Err(rejection) => return self.reject(rejection),
        };
        let (lease, retention) = (self.config.lease, self.config.retention);
        let now = self.config.verifier.clock().now();
        self.body = body;
        self.verified = Some(verified);
        self.key = Some(key.clone());
        let future = store.claim_owned(key.clone(), fingerprint, lease, retention, now);
        State::Claim {
            claim: PendingClaim {
                future: Some(future),
                key,
                config: Arc::clone(&self.config),
            },
        }
    }

    /// Act on the store's answer.
    fn claimed<ReqBody: Body<Error: Into<BoxError>>, ResBody>(
        &mut self,
        claim: Result<Claim, StoreError>,
    ) -> State<S::Future, ReqBody, ResBody>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        match claim {
            Ok(Claim::Acquired { token, took_over }) => {
                if took_over {
                    tracing::info!("took over a claim whose lease lapsed");
                }
                #[cfg(all(feature = "postgres", feature = "axum"))]
                if let (Some(store), Some(key)) = (&self.config.inbox, &self.key) {
                    self.inbox = Some(crate::inbox::ClaimHandle::new(
                        key.clone(),
                        token,
                        self.config.retention,
                        store.clone(),
                        Arc::clone(self.config.verifier.clock()),
                    ));
                }
                if let (Some(store), Some(key)) = (&self.config.store, &self.key) {
                    self.guard = Some(ReleaseGuard::new(
                        store.clone(),
                        key.clone(),
                        token,
                        Arc::clone(self.config.verifier.clock()),
                    ));
                }
                self.call_inner()
            }
            Ok(Claim::Completed(stored)) => {
                tracing::debug!("replaying the stored response");
                metrics::webhook(self.scheme, "replayed");
                State::Ready {
                    response: Some(replay(&stored).map(ResponseBody::full)),
                }
            }
            Ok(Claim::InProgress { retry_after }) => {
                self.reject(Rejection::InProgress { retry_after })
            }
            Ok(Claim::Mismatch) => self.reject(Rejection::Mismatch),
            Err(error) => match self.config.on_store_error {
                OnStoreError::FailClosed => {
                    tracing::warn!(%error, "idempotency store failed; refusing the delivery (fail-closed)");
                    self.reject(Rejection::StoreUnavailable)
                }
                OnStoreError::FailOpen => {
                    tracing::warn!(%error, "idempotency store failed; handling without deduplication (fail-open)");
                    self.key = None;
                    self.unclaimed_outcome = "fail-open";
                    self.call_inner()
                }
            },
        }
    }

    fn call_inner<ReqBody: Body<Error: Into<BoxError>>, ResBody>(
        &mut self,
    ) -> State<S::Future, ReqBody, ResBody>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        let (Some(parts), Some(mut inner)) = (self.parts.take(), self.inner.take()) else {
            unreachable!("the inner service is called once")
        };
        let mut req = Request::from_parts(parts, Full::new(std::mem::take(&mut self.body)));
        if let Some(verified) = self.verified.take() {
            req.extensions_mut().insert(verified);
        }
        #[cfg(all(feature = "postgres", feature = "axum"))]
        if let Some(handle) = &self.inbox {
            req.extensions_mut().insert(handle.clone());
        }
        State::Inner {
            future: inner.call(req),
            heartbeat: None,
        }
    }

    /// The heartbeat for the claim the handler runs under, if there is one.
    fn heartbeat(&self) -> Option<BoxFuture<()>> {
        let (Some(store), Some(key), Some(token)) = (
            self.config.store.clone(),
            self.key.clone(),
            self.guard.as_ref().and_then(ReleaseGuard::token),
        ) else {
            return None;
        };
        let config = Arc::clone(&self.config);
        Some(Box::pin(async move {
            let clock = config.verifier.clock();
            heartbeat::keep_alive(&store, &key, token, config.hold(), &**clock).await;
        }))
    }

    /// The handler answered: return it (no claim), or collect it for `complete`, or `release`.
    fn handled<F, ReqBody: Body<Error: Into<BoxError>>, ResBody>(
        &mut self,
        response: Response<ResBody>,
    ) -> State<F, ReqBody, ResBody> {
        if self.guard.is_none() {
            metrics::webhook(self.scheme, self.unclaimed_outcome);
            return State::Ready {
                response: Some(response.map(ResponseBody::inner)),
            };
        }
        let (parts, body) = response.into_parts();
        #[cfg(all(feature = "postgres", feature = "axum"))]
        if let Some(handle) = self.inbox.as_ref().filter(|h| h.began()) {
            // The handler's own transaction owns the record: it committed it, or the claim is released.
            if handle.committed() {
                if let Some(guard) = self.guard.as_mut() {
                    guard.disarm();
                }
                if let Some(key) = &self.key {
                    metrics::finished(key, true, Ok(()));
                }
                metrics::webhook(self.scheme, "handled");
                return State::Ready {
                    response: Some(Response::from_parts(parts, ResponseBody::inner(body))),
                };
            }
            tracing::debug!("the inbox transaction did not commit; releasing the claim");
            return self.record(
                false,
                None,
                Response::from_parts(parts, ResponseBody::inner(body)),
            );
        }
        if (self.config.done)(parts.status) {
            State::Collect {
                parts: Some(parts),
                body: Some(Box::pin(body)),
                buf: Collected::default(),
            }
        } else {
            tracing::debug!(
                status = parts.status.as_u16(),
                "handler not done; releasing the claim"
            );
            self.record(
                false,
                None,
                Response::from_parts(parts, ResponseBody::inner(body)),
            )
        }
    }

    /// The response body is read (or its first `replay_limit` bytes are): complete the claim with it.
    fn collected<F, ReqBody: Body<Error: Into<BoxError>>, ResBody>(
        &mut self,
        parts: Option<http::response::Parts>,
        data: Bytes,
        rest: Option<Pin<Box<ResBody>>>,
    ) -> State<F, ReqBody, ResBody> {
        let Some(parts) = parts else {
            unreachable!("response head taken once")
        };
        let mut stored = StoredResponse::new(parts.status, Bytes::new());
        for name in &self.config.replay_headers {
            for value in parts.headers.get_all(name) {
                stored.headers.push((name.clone(), value.clone()));
            }
        }
        let body = match rest {
            None => {
                stored.body = data.clone();
                ResponseBody::full(data)
            }
            Some(rest) => {
                tracing::warn!(
                    limit = self.config.replay_limit,
                    "response body longer than the replay limit; it will be replayed without a body"
                );
                ResponseBody::prefixed(data, rest)
            }
        };
        self.record(true, Some(stored), Response::from_parts(parts, body))
    }

    /// The handler's body failed while being read for replay: release, and pass the error on.
    fn body_failed<F, ReqBody: Body<Error: Into<BoxError>>, ResBody>(
        &mut self,
        parts: Option<http::response::Parts>,
        error: BoxError,
    ) -> State<F, ReqBody, ResBody> {
        let Some(parts) = parts else {
            unreachable!("response head taken once")
        };
        tracing::warn!(%error, "handler's response body failed; releasing the claim");
        self.record(
            false,
            None,
            Response::from_parts(parts, ResponseBody::failed(error)),
        )
    }

    fn record<F, ReqBody: Body<Error: Into<BoxError>>, ResBody>(
        &mut self,
        completing: bool,
        stored: Option<StoredResponse>,
        response: Response<ResponseBody<ResBody>>,
    ) -> State<F, ReqBody, ResBody> {
        let (Some(store), Some(key), Some(token)) = (
            self.config.store.as_ref(),
            self.key.clone(),
            self.guard.as_ref().and_then(ReleaseGuard::token),
        ) else {
            unreachable!("recording only after a claim was acquired")
        };
        let retention = self.config.retention;
        let now = self.config.verifier.clock().now();
        let record = match stored {
            Some(stored) if completing => {
                store.complete_owned(key.clone(), token, stored, retention, now)
            }
            _ => store.release_owned(key.clone(), token, now),
        };
        // From here the store call decides the claim's end, even if the request is dropped: the guard would
        // release a claim whose handler has run.
        if let Some(guard) = self.guard.as_mut() {
            guard.disarm();
        }
        State::Record {
            record: Finishing {
                future: Some(record),
                key,
                completing,
            },
            response: Some(response),
        }
    }
}

impl<S, ReqBody, ResBody> fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<Full<Bytes>>>,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Buffer { .. } => "Buffer",
            State::Claim { .. } => "Claim",
            State::Inner { .. } => "Inner",
            State::Collect { .. } => "Collect",
            State::Record { .. } => "Record",
            State::Ready { .. } => "Ready",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("scheme", &self.ctx.scheme)
            .finish_non_exhaustive()
    }
}
