//! Shared helpers: scripted axum receivers that verify signatures, and a sender wired to a test clock.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hookguard::{Scheme, Verifier};
use hookguard_sender::{
    Endpoint, JobId, JobRecord, MemoryQueue, Queue, RetryPolicy, Sender, SenderBuilder, TestClock,
    Timestamp,
};

/// A Standard Webhooks test secret.
pub const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A second one (rotation).
pub const KEY2: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// The test clock's start.
pub const T0: Timestamp = Timestamp::from_unix_seconds(1_800_000_000);

pub fn test_clock() -> TestClock {
    TestClock::new(T0)
}

/// A Standard Webhooks verifier for [`KEY`] that reads `clock`.
pub fn verifier(clock: &TestClock) -> Verifier {
    Verifier::new(Scheme::standard_webhooks(), KEY)
        .unwrap()
        .with_clock(clock.clone())
}

/// What a receiver does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answer this status with this body and these headers.
    Status(u16, &'static str, Vec<(&'static str, String)>),
    /// Never answer (until the client gives up).
    Hang,
    /// Answer 200 after this long.
    Slow(Duration),
    /// Send this status (and `Retry-After`, if given) with a chunked body, then break the connection.
    DropMidBody(u16, Option<&'static str>),
}

impl Reply {
    pub fn status(s: u16) -> Self {
        Self::Status(s, "", Vec::new())
    }
    pub fn retry_after(s: u16, value: impl Into<String>) -> Self {
        Self::Status(s, "", vec![("retry-after", value.into())])
    }
}

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `Ok(key index)` if the signature verified, else the error's kind.
    pub verified: Result<usize, &'static str>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A shared, ordered log of what receivers saw (for ordering assertions across receivers).
pub type EventLog = Arc<Mutex<Vec<String>>>;

struct Inner {
    name: String,
    script: Mutex<VecDeque<Reply>>,
    fallback: Reply,
    received: Mutex<Vec<Received>>,
    verifier: Verifier,
    log: EventLog,
}

/// An axum receiver on 127.0.0.1:0 that answers from a script, then with the fallback.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

struct LogOnDrop(EventLog, String);

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(std::mem::take(&mut self.1));
    }
}

async fn handle(State(st): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = st
        .verifier
        .verify(&headers, &body)
        .map(|v| v.key_index())
        .map_err(|e| e.kind());
    st.received.lock().unwrap().push(Received {
        headers,
        body,
        verified,
    });
    st.log.lock().unwrap().push(format!("{}:received", st.name));
    let reply = st
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| st.fallback.clone());
    match reply {
        Reply::Status(code, body, headers) => {
            let mut res = (StatusCode::from_u16(code).unwrap(), body).into_response();
            for (k, v) in headers {
                res.headers_mut().insert(k, v.parse().unwrap());
            }
            res
        }
        Reply::Hang => {
            let _guard = LogOnDrop(st.log.clone(), format!("{}:dropped", st.name));
            std::future::pending::<()>().await;
            unreachable!()
        }
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            StatusCode::OK.into_response()
        }
        Reply::DropMidBody(status, retry_after) => {
            // The head and a first chunk go out; a moment later the body fails and hyper cuts the connection.
            let chunks = futures_util::stream::unfold(0, |step| async move {
                match step {
                    0 => Some((Ok(Bytes::from_static(b"partial")), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some((Err(std::io::Error::other("connection dropped")), 2))
                    }
                    _ => None,
                }
            });
            let mut res = Response::new(Body::from_stream(chunks));
            *res.status_mut() = StatusCode::from_u16(status).expect("a valid status");
            if let Some(after) = retry_after {
                res.headers_mut()
                    .insert("retry-after", HeaderValue::from_static(after));
            }
            res
        }
    }
}

impl Receiver {
    /// Starts a receiver named `name` verifying with `verifier`.
    pub async fn start_with(
        name: &str,
        verifier: Verifier,
        script: impl IntoIterator<Item = Reply>,
        fallback: Reply,
        log: EventLog,
    ) -> Self {
        let inner = Arc::new(Inner {
            name: name.to_owned(),
            script: Mutex::new(script.into_iter().collect()),
            fallback,
            received: Mutex::new(Vec::new()),
            verifier,
            log,
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, inner }
    }

    /// A receiver answering `script`, then 200, verifying [`KEY`] against `clock`.
    pub async fn start(clock: &TestClock, script: impl IntoIterator<Item = Reply>) -> Self {
        Self::start_with(
            "rx",
            verifier(clock),
            script,
            Reply::status(200),
            EventLog::default(),
        )
        .await
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.inner.received.lock().unwrap().len()
    }
}

/// A sender on a memory queue and `clock`, private networks allowed, the standard schedule without jitter.
pub fn builder(clock: &TestClock) -> SenderBuilder<MemoryQueue> {
    Sender::builder(MemoryQueue::new())
        .clock(clock.clone())
        .allow_private_networks()
        .retry_policy(RetryPolicy::standard_webhooks().without_jitter())
        .lease(Duration::from_secs(30))
}

/// A Standard Webhooks endpoint with [`KEY`] and a 2 s timeout.
pub fn endpoint(id: &str, url: &str) -> Endpoint {
    Endpoint::new(id, url, KEY).with_timeout(Duration::from_secs(2))
}

/// A sender from [`builder`] with one endpoint, `ep`, delivering to `rx`.
pub fn sender_for(clock: &TestClock, rx: &Receiver) -> Sender<MemoryQueue> {
    builder(clock)
        .endpoint(endpoint("ep", &rx.url()))
        .build()
        .unwrap()
}

pub async fn record<Q: Queue>(sender: &Sender<Q>, id: JobId) -> JobRecord {
    sender.queue().get(id).await.unwrap().expect("job exists")
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
