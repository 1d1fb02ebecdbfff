//! [`Transport`]: the HTTP client behind a small trait, so tests and demos can inject faults without sockets.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;

use crate::queue::AttemptErrorKind;
use crate::ssrf::is_blocked;

/// How much of a response body is read at most (the recorded prefix is shorter): draining a little lets the
/// connection be reused, draining everything would let a receiver stall a worker.
pub(crate) const MAX_DRAIN: usize = 64 * 1024;

/// One signed delivery to make.
#[derive(Clone)]
pub struct Request {
    /// The endpoint's id (for fakes that answer per endpoint).
    pub endpoint_id: String,
    /// Where to POST.
    pub url: reqwest::Url,
    /// The signature headers (and any others).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The whole attempt's time limit.
    pub timeout: Duration,
    /// How many bytes of the response body to keep.
    pub body_limit: usize,
}

/// Never prints the URL's user-info or query (they may carry secrets), nor the headers (signatures).
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("endpoint_id", &self.endpoint_id)
            .field("url", &crate::endpoint::redact_url(self.url.as_str()))
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The start of the body (at most the request's `body_limit` bytes).
    pub body: Bytes,
    /// Set if the body broke off after the status line arrived.
    pub body_error: Option<TransportError>,
}

/// A request that got no (complete) response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct TransportError {
    /// What went wrong.
    pub kind: AttemptErrorKind,
    /// A description without the URL.
    pub message: String,
}

/// The future a [`Transport`] returns.
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Response, TransportError>> + Send + 'a>>;

/// Sends one request. The default is [`ReqwestTransport`]; tests pass a fake to count calls or inject faults.
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// POSTs `request` and reads at most its `body_limit` bytes of the answer (draining a little more).
    fn post(&self, request: Request) -> TransportFuture<'_>;
}

/// The default transport: a `reqwest` client (rustls, no redirects, no proxy, the SSRF-guarded resolver unless
/// private networks are allowed).
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// Wraps a client. It should not follow redirects (a 3xx dead-letters) and should resolve names through
    /// the SSRF guard.
    #[must_use]
    pub const fn new(client: reqwest::Client) -> Self {
        Self { client }
    }
}

impl Transport for ReqwestTransport {
    fn post(&self, request: Request) -> TransportFuture<'_> {
        Box::pin(async move {
            // Built whole rather than through `RequestBuilder::headers`, which copies every header into a new
            // map: the signed map is the request's map.
            let mut req = reqwest::Request::new(http::Method::POST, request.url);
            *req.headers_mut() = request.headers;
            *req.timeout_mut() = Some(request.timeout);
            *req.body_mut() = Some(request.body.into());
            let mut response = self.client.execute(req).await.map_err(describe)?;
            let status = response.status().as_u16();
            let headers = std::mem::take(response.headers_mut());
            let mut body = Vec::new();
            let mut read = 0;
            let mut body_error = None;
            while read < MAX_DRAIN {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        read += chunk.len();
                        let room = request.body_limit.saturating_sub(body.len());
                        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        body_error = Some(describe(e));
                        break;
                    }
                }
            }
            Ok(Response {
                status,
                headers,
                body: body.into(),
                body_error,
            })
        })
    }
}

/// The error's kind and a message without the URL (it may carry a token in its query or user-info).
fn describe(e: reqwest::Error) -> TransportError {
    let kind = if e.is_timeout() {
        AttemptErrorKind::Timeout
    } else if is_blocked(&e) {
        AttemptErrorKind::Blocked
    } else if e.is_connect() {
        AttemptErrorKind::Connect
    } else if e.is_body() || e.is_decode() {
        AttemptErrorKind::Body
    } else {
        AttemptErrorKind::Request
    };
    let e = e.without_url();
    TransportError {
        kind,
        message: crate::error::chain(&e),
    }
}
