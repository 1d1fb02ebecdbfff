//! Scripted faults for the flaky endpoint, injected by a middleware *outside* the webhook layer, the way a
//! load balancer, a proxy or the network would fail in front of the receiver.
//!
//! Whether attempt `a` of event `n` fails, and how, is a hash of `(n, a)`: the same events fail the same way
//! on every run, and no event fails more than [`FAULTY_ATTEMPTS`] times, fewer than the sender's retry policy
//! allows (see `main.rs`), so every event must get through. The attempt number is the count of requests seen
//! for the event id: a job's attempts are sequential.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_LENGTH;
use std::sync::Arc;

/// Faults only hit the first attempts of an event: by attempt `FAULTY_ATTEMPTS + 1` it gets through.
pub(crate) const FAULTY_ATTEMPTS: u32 = 3;
/// The share of those attempts that fail.
pub(crate) const FAULT_PERCENT: u64 = 20;

/// One injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// 500 at once; the webhook layer and the handler never see the request.
    ServerError,
    /// The request is held past the sender's timeout; the handler never sees it.
    Timeout,
    /// The handler runs and its response is stored by the layer, then the connection drops mid-response: the
    /// effect happened but the sender cannot know, so it retries, and the layer answers the retry from the
    /// stored response.
    LostResponse,
}

/// The fault, if any, for attempt `attempt` of event number `event`.
pub(crate) fn plan(event: u64, attempt: u32) -> Option<Fault> {
    if attempt == 0 || attempt > FAULTY_ATTEMPTS {
        return None;
    }
    let h = splitmix64(event.wrapping_mul(0x100) ^ u64::from(attempt));
    let kind = match (h >> 32) % 3 {
        0 => Fault::ServerError,
        1 => Fault::Timeout,
        _ => Fault::LostResponse,
    };
    (h % 100 < FAULT_PERCENT).then_some(kind)
}

/// SplitMix64's finalizer: a fixed, well-mixed hash (std's `DefaultHasher` may change between releases).
const fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The event's number: the last `_`-separated part of its id (`evt_<run>_<number>`). The run prefix keeps ids
/// unique in a durable store; faults hash the number alone, so they repeat from run to run.
pub(crate) fn event_number(id: &str) -> Option<u64> {
    id.rsplit('_').next()?.parse().ok()
}

/// The injector's state: attempts seen per event id, and what was injected.
#[derive(Debug)]
pub(crate) struct Faults {
    /// How long a `Timeout` holds the request: longer than the endpoint's timeout.
    hold: Duration,
    attempts: Mutex<HashMap<String, u32>>,
    server_errors: AtomicU64,
    timeouts: AtomicU64,
    lost_responses: AtomicU64,
}

/// What was injected, for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Injected {
    pub(crate) server_errors: u64,
    pub(crate) timeouts: u64,
    pub(crate) lost_responses: u64,
}

impl Injected {
    pub(crate) const fn total(&self) -> u64 {
        self.server_errors + self.timeouts + self.lost_responses
    }
}

impl Faults {
    pub(crate) fn new(hold: Duration) -> Self {
        Self {
            hold,
            attempts: Mutex::new(HashMap::new()),
            server_errors: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            lost_responses: AtomicU64::new(0),
        }
    }

    /// Counts a request for `id` and returns its attempt number.
    fn arrival(&self, id: &str) -> u32 {
        let mut attempts = self.attempts.lock().expect("fault log lock");
        let n = attempts.entry(id.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    pub(crate) fn injected(&self) -> Injected {
        Injected {
            server_errors: self.server_errors.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            lost_responses: self.lost_responses.load(Ordering::Relaxed),
        }
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`), layered outside the webhook layer.
pub(crate) async fn inject(
    State(faults): State<Arc<Faults>>,
    req: Request,
    next: Next,
) -> Response {
    let id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let attempt = faults.arrival(&id);
    match event_number(&id).and_then(|n| plan(n, attempt)) {
        None => next.run(req).await,
        Some(Fault::ServerError) => {
            faults.server_errors.fetch_add(1, Ordering::Relaxed);
            (StatusCode::INTERNAL_SERVER_ERROR, "injected fault").into_response()
        }
        Some(Fault::Timeout) => {
            faults.timeouts.fetch_add(1, Ordering::Relaxed);
            // The sender has given up by then; if the connection is still open, this 503 is never read.
            tokio::time::sleep(faults.hold).await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Some(Fault::LostResponse) => {
            // The whole webhook layer runs: verified, claimed, handled, the response stored.
            let response = next.run(req).await;
            faults.lost_responses.fetch_add(1, Ordering::Relaxed);
            // Send the status line, then fail the body: hyper drops the connection mid-response and the
            // sender records a broken response, to retry. Without a length the body is chunked, so the
            // client can tell that it did not end.
            let (mut parts, _) = response.into_parts();
            parts.headers.remove(CONTENT_LENGTH);
            Response::from_parts(parts, Body::new(BrokenBody))
        }
    }
}

/// A response body that fails on its first read.
struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection dropped after the handler ran",
        ))))
    }
}
