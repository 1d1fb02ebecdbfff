//! Several sender **processes** on one durable queue, for real: each test starts `sender-worker` (this package's
//! binary) as child processes on a fresh PostgreSQL schema or Redis key prefix, delivering over HTTP to a
//! receiver in this process behind the webhook layer with the matching durable idempotency store.
//!
//! - `kill -9` mid-delivery, then a restart: every job is delivered at least once, none is lost, none stays
//!   leased, none is dead.
//! - Two and four processes: every job is delivered, each process delivered some, and the handler's effects
//!   equal the events exactly.
//!
//! Needs `DATABASE_URL` / `REDIS_URL`; without one its tests print that they skipped, unless
//! `HOOKGUARD_REQUIRE_BACKENDS=1`.

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use hookguard::{Scheme, Verifier};
use hookguard_sender::{BoxedQueue, NewJob, Queue as _, QueueStats, Timestamp};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::VerifiedWebhook;
use hookguard_tower::store::{BoxedStore, PostgresStore, RedisStore};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Postgres,
    Redis,
}

impl Backend {
    const fn var(self) -> &'static str {
        match self {
            Self::Postgres => "DATABASE_URL",
            Self::Redis => "REDIS_URL",
        }
    }

    /// The backend's URL, or `None` after saying the test skips.
    fn url(self, test: &str) -> Option<String> {
        let var = self.var();
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var("HOOKGUARD_REQUIRE_BACKENDS").as_deref() == Ok("1") => {
                panic!("HOOKGUARD_REQUIRE_BACKENDS=1 but {var} is unset")
            }
            _ => {
                let _ = writeln!(std::io::stderr(), "skipping {test}: {var} is unset");
                None
            }
        }
    }

    /// A namespace of its own: a schema or a key prefix no other test uses.
    fn namespace(self, test: &str) -> String {
        let unique = format!("{}_{:x}", std::process::id(), rand_suffix());
        match self {
            Self::Postgres => format!("hg_procs_{test}_{unique}"),
            Self::Redis => format!("hg:procs:{test}:{unique}"),
        }
    }

    /// The idempotency store matching the queue's backend, in its own namespace.
    async fn store(self, url: &str, namespace: &str) -> BoxedStore {
        match self {
            Self::Postgres => {
                let store = PostgresStore::connect(url)
                    .await
                    .unwrap()
                    .schema(&format!("{namespace}_idem"))
                    .unwrap();
                store.migrate().await.unwrap();
                BoxedStore::new(store)
            }
            Self::Redis => BoxedStore::new(
                RedisStore::connect(url)
                    .await
                    .unwrap()
                    .prefix(format!("{namespace}:idem:")),
            ),
        }
    }

    /// Drops what the test left behind.
    async fn clean(self, url: &str, namespace: &str) {
        match self {
            Self::Postgres => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                for schema in [namespace.to_owned(), format!("{namespace}_idem")] {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&pool)
                    .await
                    .unwrap();
                }
            }
            Self::Redis => {
                common::delete_redis_keys(url, &format!("*{namespace}*")).await;
            }
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// What the receiver saw: the handler's effects per event id, and requests per sender process (path).
#[derive(Debug, Default)]
struct Seen {
    effects: HashMap<String, usize>,
    per_process: HashMap<String, usize>,
}

#[derive(Clone, Debug)]
struct Receiver {
    seen: Arc<Mutex<Seen>>,
    delay: Duration,
}

async fn handle(
    State(rx): State<Receiver>,
    Path(process): Path<String>,
    VerifiedWebhook(verified): VerifiedWebhook,
) -> StatusCode {
    // The work takes a while, so a kill finds deliveries in flight; the effect is its last, synchronous step.
    tokio::time::sleep(rx.delay).await;
    let mut seen = rx.seen.lock().unwrap();
    *seen
        .effects
        .entry(verified.id().unwrap_or_default().to_owned())
        .or_default() += 1;
    *seen.per_process.entry(process).or_default() += 1;
    StatusCode::NO_CONTENT
}

async fn serve_receiver(store: BoxedStore, delay: Duration) -> (SocketAddr, Receiver) {
    let rx = Receiver {
        seen: Arc::default(),
        delay,
    };
    let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET).unwrap();
    let app = Router::new()
        .route("/{process}", post(handle))
        .with_state(rx.clone())
        .layer(WebhookLayer::new(verifier).idempotency(store));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx)
}

/// A `sender-worker` child process, killed with SIGKILL when dropped.
struct Worker {
    child: Child,
}

impl Worker {
    /// Starts one and waits for its `ready` line.
    async fn start(queue_url: &str, namespace: &str, endpoint_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sender-worker"))
            .args(["--queue", queue_url, "--namespace", namespace])
            .args(["--endpoint", &format!("ep={endpoint_url}")])
            .args(["--slots", "8", "--batch", "4", "--timeout-ms", "1000"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start sender-worker");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("sender-worker printed nothing within 30 s")
            .unwrap();
        assert!(
            ready
                .as_deref()
                .is_some_and(|l| l.starts_with("ready pid=")),
            "sender-worker did not start: {ready:?}"
        );
        Self { child }
    }

    /// `kill -9`.
    async fn kill_9(mut self) {
        self.child.start_kill().unwrap();
        let status = self.child.wait().await.unwrap();
        assert!(
            !status.success(),
            "the worker was killed, not stopped: {status}"
        );
    }
}

async fn enqueue(queue: &BoxedQueue, events: usize) {
    let now = Timestamp::now();
    let jobs: Vec<NewJob> = (0..events)
        .map(|i| {
            let body = format!(
                r#"{{"type":"test.event","n":{i},"pad":"{}"}}"#,
                "x".repeat(200)
            );
            NewJob::new(
                "ep",
                format!("evt_{i:05}"),
                "test.event",
                Bytes::from(body),
                now,
            )
            .unwrap()
        })
        .collect();
    for chunk in jobs.chunks(500) {
        queue.enqueue_many(chunk.to_vec()).await.unwrap();
    }
}

/// Waits (at most `limit`) until no job is due, scheduled or in flight, and returns the last counts.
async fn drained(queue: &BoxedQueue, limit: Duration) -> QueueStats {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let stats = queue.stats(Timestamp::now()).await.unwrap();
        if stats.due + stats.scheduled + stats.in_flight == 0 {
            return stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs left after {limit:?}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn delivered(rx: &Receiver) -> usize {
    rx.seen.lock().unwrap().effects.len()
}

async fn kill_9_mid_delivery_loses_nothing(backend: Backend, test: &str) {
    let Some(url) = backend.url(test) else { return };
    let ns = backend.namespace("kill");
    const EVENTS: usize = 300;
    let queue = BoxedQueue::open(&url, Some(&ns)).await.unwrap();
    let (addr, rx) =
        serve_receiver(backend.store(&url, &ns).await, Duration::from_millis(20)).await;
    enqueue(&queue, EVENTS).await;
    let endpoint = format!("http://{addr}/p0");

    let first = Worker::start(&url, &ns, &endpoint).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while delivered(&rx).await < EVENTS / 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress before the kill"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill_9().await;
    let at_kill = queue.stats(Timestamp::now()).await.unwrap();
    assert!(
        at_kill.in_flight > 0,
        "the kill found deliveries in flight (leases the dead process held): {at_kill:?}"
    );
    assert!(
        delivered(&rx).await < EVENTS,
        "the kill came before the end of the run"
    );

    let second = Worker::start(&url, &ns, &endpoint).await;
    let stats = drained(&queue, Duration::from_secs(90)).await;
    drop(second);
    assert_eq!(stats.dead, 0, "nothing dead-lettered: {stats:?}");
    let missing: Vec<String> = {
        let seen = rx.seen.lock().unwrap();
        (0..EVENTS)
            .map(|i| format!("evt_{i:05}"))
            .filter(|id| !seen.effects.contains_key(id))
            .collect()
    };
    assert!(missing.is_empty(), "events never handled: {missing:?}");
    backend.clean(&url, &ns).await;
}

async fn processes_share_one_queue(backend: Backend, processes: usize, test: &str) {
    let Some(url) = backend.url(test) else { return };
    let ns = backend.namespace(&format!("share{processes}"));
    const EVENTS: usize = 400;
    let queue = BoxedQueue::open(&url, Some(&ns)).await.unwrap();
    let (addr, rx) = serve_receiver(backend.store(&url, &ns).await, Duration::from_millis(2)).await;
    let mut workers = Vec::new();
    for p in 0..processes {
        workers.push(Worker::start(&url, &ns, &format!("http://{addr}/p{p}")).await);
    }
    enqueue(&queue, EVENTS).await;
    let stats = drained(&queue, Duration::from_secs(90)).await;
    assert_eq!(stats.dead, 0, "nothing dead-lettered: {stats:?}");
    drop(workers);

    {
        let seen = rx.seen.lock().unwrap();
        assert_eq!(seen.effects.len(), EVENTS, "every event handled");
        let twice: Vec<_> = seen.effects.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            twice.is_empty(),
            "handler effects == events exactly: {twice:?}"
        );
        for p in 0..processes {
            let n = seen.per_process.get(&format!("p{p}")).copied().unwrap_or(0);
            assert!(
                n > 0,
                "process {p} of {processes} delivered none: {:?}",
                seen.per_process
            );
        }
    }
    backend.clean(&url, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_survives_kill_9_mid_delivery() {
    kill_9_mid_delivery_loses_nothing(
        Backend::Postgres,
        "postgres_queue_survives_kill_9_mid_delivery",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_queue_survives_kill_9_mid_delivery() {
    kill_9_mid_delivery_loses_nothing(Backend::Redis, "redis_queue_survives_kill_9_mid_delivery")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_four_processes_share_a_postgres_queue() {
    for n in [2, 4] {
        processes_share_one_queue(
            Backend::Postgres,
            n,
            "two_and_four_processes_share_a_postgres_queue",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_four_processes_share_a_redis_queue() {
    for n in [2, 4] {
        processes_share_one_queue(
            Backend::Redis,
            n,
            "two_and_four_processes_share_a_redis_queue",
        )
        .await;
    }
}
