//! [`WebhookService`]: the middleware itself.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use super::layer::Config;
use super::{ResponseBody, ResponseFuture, WebhookLayer};
use crate::store::BoxError;

/// Verifies each request, deduplicates it if configured, then calls the inner service with the buffered
/// body and the [`Verified`](hookguard::Verified) signature in the request's extensions.
///
/// Built by [`WebhookLayer`]; see the [module docs](crate::webhook).
#[derive(Clone)]
pub struct WebhookService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> WebhookService<S> {
    /// Wraps `inner` with `layer`'s configuration.
    pub fn new(inner: S, layer: &WebhookLayer) -> Self {
        tower_layer::Layer::layer(layer, inner)
    }

    pub(crate) fn from_config(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for WebhookService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for WebhookService<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The inner service is called later, from the response future, once the body is buffered and
        // verified. Move the instance `poll_ready` just readied into the future and keep a fresh clone
        // here: calling the clone instead would skip its readiness check.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(req, ready, Arc::clone(&self.config))
    }
}
