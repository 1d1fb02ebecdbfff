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

/// A clock that reads tokio's (pausable) time from `T0`: with `start_paused`, the sender's schedule and tokio's
/// timers move together.
#[derive(Debug, Clone)]
pub struct TokioClock(tokio::time::Instant);

impl TokioClock {
    pub fn new() -> Self {
        Self(tokio::time::Instant::now())
    }
}

impl hookguard_sender::Clock for TokioClock {
    fn now(&self) -> Timestamp {
        T0 + self.0.elapsed()
    }
}

/// What the fake transport does for one request.
#[derive(Clone, Debug)]
pub enum Fake {
    /// Answer this status at once.
    Status(u16),
    /// Never answer.
    Hang,
    /// Panic inside the worker.
    Panic,
}

/// A transport without sockets: answers per endpoint with a fixed behaviour, and records every request with
/// the sender clock's time.
#[derive(Debug, Clone)]
pub struct FakeTransport {
    pub clock: TokioClock,
    pub behaviour: Arc<Mutex<std::collections::HashMap<String, Fake>>>,
    pub sent: Arc<Mutex<Vec<(String, String, Timestamp)>>>,
}

impl FakeTransport {
    pub fn new(clock: &TokioClock) -> Self {
        Self {
            clock: clock.clone(),
            behaviour: Arc::default(),
            sent: Arc::default(),
        }
    }

    pub fn set(&self, endpoint: &str, fake: Fake) {
        self.behaviour
            .lock()
            .unwrap()
            .insert(endpoint.to_owned(), fake);
    }

    /// `(event id, time)` of the requests to `endpoint`.
    pub fn sent_to(&self, endpoint: &str) -> Vec<(String, Timestamp)> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(e, _, _)| e == endpoint)
            .map(|(_, id, at)| (id.clone(), *at))
            .collect()
    }
}

impl hookguard_sender::Transport for FakeTransport {
    fn post(&self, request: hookguard_sender::Request) -> hookguard_sender::TransportFuture<'_> {
        use hookguard_sender::Clock as _;
        let id = request
            .headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.sent
            .lock()
            .unwrap()
            .push((request.endpoint_id.clone(), id, self.clock.now()));
        let fake = self
            .behaviour
            .lock()
            .unwrap()
            .get(&request.endpoint_id)
            .cloned()
            .unwrap_or(Fake::Status(200));
        Box::pin(async move {
            match fake {
                Fake::Status(status) => Ok(hookguard_sender::Response {
                    status,
                    headers: http::HeaderMap::new(),
                    body: Bytes::new(),
                    body_error: None,
                }),
                Fake::Hang => std::future::pending().await,
                Fake::Panic => panic!("injected fault"),
            }
        })
    }
}

/// Counts lease and conclude calls on the queue it wraps.
#[derive(Debug, Default)]
pub struct Counting<Q> {
    pub inner: Q,
    pub leases: std::sync::atomic::AtomicUsize,
    pub concludes: std::sync::atomic::AtomicUsize,
    /// Times of the lease calls.
    pub lease_times: Mutex<Vec<Timestamp>>,
    /// Injected fault: `extend` says the lease was lost (as if another worker had taken the job over).
    pub lose_leases: std::sync::atomic::AtomicBool,
    pub extends: std::sync::atomic::AtomicUsize,
}

impl<Q: Queue> Counting<Q> {
    pub fn new(inner: Q) -> Self {
        Self {
            inner,
            leases: Default::default(),
            concludes: Default::default(),
            lease_times: Mutex::default(),
            lose_leases: Default::default(),
            extends: Default::default(),
        }
    }

    pub fn leases_between(&self, from: Timestamp, to: Timestamp) -> usize {
        self.lease_times
            .lock()
            .unwrap()
            .iter()
            .filter(|t| **t >= from && **t < to)
            .count()
    }
}

mod counting {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use hookguard_sender::*;

    use super::Counting;

    impl<Q: Queue> Queue for Counting<Q> {
        async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<JobId>, QueueError> {
            self.inner.enqueue_many(jobs).await
        }
        async fn lease(
            &self,
            now: Timestamp,
            max: usize,
            lease_for: Duration,
            options: &LeaseOptions,
        ) -> Result<LeaseBatch, QueueError> {
            self.leases.fetch_add(1, Ordering::Relaxed);
            self.lease_times.lock().unwrap().push(now);
            self.inner.lease(now, max, lease_for, options).await
        }
        async fn conclude(
            &self,
            now: Timestamp,
            batch: Vec<(LeaseHandle, Transition)>,
        ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
            self.concludes.fetch_add(1, Ordering::Relaxed);
            self.inner.conclude(now, batch).await
        }
        async fn extend(
            &self,
            handle: &LeaseHandle,
            until: Timestamp,
            now: Timestamp,
        ) -> Result<(), QueueError> {
            self.extends.fetch_add(1, Ordering::Relaxed);
            if self.lose_leases.load(Ordering::Relaxed) {
                return Err(QueueError::LeaseLost);
            }
            self.inner.extend(handle, until, now).await
        }
        async fn reap(
            &self,
            now: Timestamp,
            max_lapses: u32,
            limit: usize,
        ) -> Result<Progress, QueueError> {
            self.inner.reap(now, max_lapses, limit).await
        }
        async fn expire(
            &self,
            created_before: Timestamp,
            now: Timestamp,
            limit: usize,
        ) -> Result<Progress, QueueError> {
            self.inner.expire(created_before, now, limit).await
        }
        async fn wait_for_work(&self, now: Timestamp, until: Timestamp) {
            self.inner.wait_for_work(now, until).await;
        }
        async fn prune(&self, older_than: Timestamp, limit: usize) -> Result<Progress, QueueError> {
            self.inner.prune(older_than, limit).await
        }
        async fn get(&self, id: JobId) -> Result<Option<JobRecord>, QueueError> {
            self.inner.get(id).await
        }
        async fn dead_letters(
            &self,
            filter: &DeadLetterFilter,
            page: Page,
        ) -> Result<DeadLetterPage, QueueError> {
            self.inner.dead_letters(filter, page).await
        }
        async fn replay(&self, id: JobId, now: Timestamp) -> Result<(), QueueError> {
            self.inner.replay(id, now).await
        }
        async fn replay_all(
            &self,
            filter: &DeadLetterFilter,
            now: Timestamp,
            limit: usize,
        ) -> Result<Progress, QueueError> {
            self.inner.replay_all(filter, now, limit).await
        }
        async fn purge(
            &self,
            filter: &DeadLetterFilter,
            limit: usize,
        ) -> Result<Progress, QueueError> {
            self.inner.purge(filter, limit).await
        }
        async fn stats(&self, now: Timestamp) -> Result<QueueStats, QueueError> {
            self.inner.stats(now).await
        }
        async fn endpoint_stats(
            &self,
            now: Timestamp,
        ) -> Result<Vec<(String, QueueStats)>, QueueError> {
            self.inner.endpoint_stats(now).await
        }
        async fn endpoint_state(&self, endpoint_id: &str) -> Result<EndpointState, QueueError> {
            self.inner.endpoint_state(endpoint_id).await
        }
        async fn endpoint_states(&self) -> Result<Vec<(String, EndpointState)>, QueueError> {
            self.inner.endpoint_states().await
        }
        async fn set_endpoint_state(
            &self,
            endpoint_id: &str,
            state: EndpointState,
        ) -> Result<(), QueueError> {
            self.inner.set_endpoint_state(endpoint_id, state).await
        }
    }
}

/// The URL in `var` (`DATABASE_URL`, `REDIS_URL`) for a backend test, or `None` after printing that `test`
/// is skipped; with `HOOKGUARD_REQUIRE_BACKENDS=1` a missing URL fails the test instead.
pub fn backend_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if backends_required() => {
            panic!("HOOKGUARD_REQUIRE_BACKENDS=1 but {var} is unset")
        }
        _ => {
            eprintln!("{test}: skipped, {var} is unset");
            None
        }
    }
}

/// Whether `HOOKGUARD_REQUIRE_BACKENDS=1`: a backend test that cannot run fails instead of skipping.
pub fn backends_required() -> bool {
    std::env::var("HOOKGUARD_REQUIRE_BACKENDS").as_deref() == Ok("1")
}

/// `n` random bytes as lower-case hex: a schema name or prefix no other test or run uses.
pub fn unique_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// A free TCP port on 127.0.0.1 (free when asked; another process could take it before it is used).
pub fn free_port() -> u16 {
    closed_port()
}

/// A PostgreSQL server of the test's own, on a free port, with its data in a fresh directory under `/tmp`,
/// run as the `postgres` OS user (PostgreSQL refuses to run as root). Stopped and its data removed on drop.
pub struct PrivatePostgres {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    pub port: u16,
}

impl PrivatePostgres {
    /// Initialises and starts one, or `None` (after printing why) when the binaries, the `postgres` user or
    /// `runuser` are missing; with `HOOKGUARD_REQUIRE_BACKENDS=1` that fails the test instead.
    pub fn start(test: &str) -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin"))
                    .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
                    .max()
            });
        let Some(bin) = bin else {
            assert!(
                !backends_required(),
                "HOOKGUARD_REQUIRE_BACKENDS=1 but no PostgreSQL binaries under /usr/lib/postgresql"
            );
            eprintln!("{test}: skipped, no PostgreSQL binaries under /usr/lib/postgresql");
            return None;
        };
        let dir = std::path::PathBuf::from(format!("/tmp/hookguard-pg-{}", unique_hex(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let owned = std::process::Command::new("chown")
            .args(["postgres:postgres", dir.to_str().unwrap()])
            .status();
        if !owned.is_ok_and(|s| s.success()) {
            let _ = std::fs::remove_dir_all(&dir);
            assert!(
                !backends_required(),
                "HOOKGUARD_REQUIRE_BACKENDS=1 but the data directory cannot be given to the postgres user"
            );
            eprintln!("{test}: skipped, cannot give a data directory to the postgres user");
            return None;
        }
        let server = Self {
            bin,
            dir,
            port: free_port(),
        };
        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        server.pg_ctl_start();
        Some(server)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .args(args)
            .output()
            .expect("runuser");
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) {
        let (data, log) = (self.dir.join("data"), self.dir.join("log"));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c synchronous_commit=on",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server (fast shutdown: sessions are terminated, committed work is kept).
    pub fn stop(&self) {
        let data = self.dir.join("data");
        self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    /// Starts it again on the same port and data.
    pub fn start_again(&self) {
        self.pg_ctl_start();
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args([
                "-D",
                data.to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
