//! The proof, in memory: 10 000 events through the sender, over real HTTP, to a receiver behind the webhook
//! layer, with a fault proxy between them failing 20 % of deliveries outside the handler's effect (500s,
//! timeouts, and responses lost after the handler ran), and the sender's worker pool aborted and started
//! again twice mid-run on the same `MemoryQueue` → the handler's effect count equals the events exactly and
//! no job is dead.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use hookguard::{Scheme, Verifier};
use hookguard_examples::faults::{Fault, FaultPlan, FaultProxy};
use hookguard_sender::{Endpoint, MemoryQueue, NewJob, Queue as _, RetryPolicy, Sender, Timestamp};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::VerifiedWebhook;
use hookguard_tower::store::MemoryStore;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const EVENTS: usize = 10_000;
/// The sender's per-attempt timeout; the proxy's timeouts hold a request longer.
const TIMEOUT: Duration = Duration::from_millis(400);

/// The proofs run one at a time: each loads the machine's two cores on its own, and their limits are set
/// for that.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The handler's effects, per event id.
type Effects = Arc<Mutex<HashMap<String, u32>>>;

async fn effect(State(effects): State<Effects>, VerifiedWebhook(v): VerifiedWebhook) -> StatusCode {
    let id = v.id().unwrap_or_default().to_owned();
    *effects.lock().unwrap().entry(id).or_default() += 1;
    StatusCode::NO_CONTENT
}

async fn receiver() -> (String, Effects) {
    let effects = Effects::default();
    let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET).unwrap();
    let app = Router::new()
        .route("/hook", post(effect))
        .with_state(Arc::clone(&effects))
        .layer(WebhookLayer::new(verifier).idempotency(MemoryStore::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, effects)
}

fn plan() -> FaultPlan {
    FaultPlan {
        percent: 20,
        // A policy of 25 attempts: no event can run out.
        max_per_event: 5,
        hold: TIMEOUT * 2,
    }
}

async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_with_faults_and_two_aborts_take_effect_exactly_once() {
    let _serial = SERIAL.lock().await;
    let (upstream, effects) = receiver().await;
    let proxy = FaultProxy::start(upstream, plan()).await.unwrap();
    let sender = Sender::builder(MemoryQueue::new())
        .endpoint(
            Endpoint::new("ep", format!("{}/hook", proxy.url()), SECRET)
                .with_timeout(TIMEOUT)
                .with_max_in_flight(64),
        )
        .workers(64)
        .batch(16)
        .lease(TIMEOUT + hookguard_sender::LEASE_MARGIN + Duration::from_millis(100))
        .reap_interval(Duration::from_millis(100))
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(10),
            2.0,
            Duration::from_millis(200),
            25,
        ))
        // 20 % faults make runs of failures: the breaker must not stall the proof for a minute.
        .circuit_breaker(1_000, Duration::from_millis(100))
        .allow_private_networks()
        .build()
        .unwrap();
    let now = Timestamp::now();
    let jobs: Vec<NewJob> = (0..EVENTS)
        .map(|i| {
            let body = Bytes::from(format!(r#"{{"type":"test.event","n":{i}}}"#));
            NewJob::new("ep", format!("evt_{i:05}"), "test.event", body, now).unwrap()
        })
        .collect();
    for chunk in jobs.chunks(1_000) {
        sender.queue().enqueue_many(chunk.to_vec()).await.unwrap();
    }
    let handled = || effects.lock().unwrap().len();

    // Two crashes of the worker pool mid-run, each followed by a fresh pool on the same queue.
    for (round, at) in [EVENTS / 3, 2 * EVENTS / 3].into_iter().enumerate() {
        let workers = sender.spawn();
        until(
            &format!("{at} events handled (round {round})"),
            Duration::from_secs(120),
            || handled() >= at,
        )
        .await;
        workers.abort();
        let stats = sender.queue().stats(sender.now()).await.unwrap();
        assert!(
            stats.in_flight > 0,
            "the abort left leases behind: {stats:?}"
        );
    }
    let workers = sender.spawn();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let stats = sender.queue().stats(sender.now()).await.unwrap();
        if stats.due + stats.scheduled + stats.in_flight == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue drains: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    workers.shutdown(Duration::from_secs(5)).await;

    let stats = sender.queue().stats(sender.now()).await.unwrap();
    assert_eq!(stats.dead, 0, "no job is dead: {stats:?}");
    let effects = effects.lock().unwrap();
    assert_eq!(effects.len(), EVENTS, "every event took effect");
    let twice: Vec<_> = effects.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "handler effects == events exactly: {twice:?}"
    );

    let counts = proxy.counts();
    let injected: u64 = counts.injected.values().sum();
    assert!(
        injected * 100 >= counts.arrivals * 15,
        "about 20 % of deliveries failed: {counts:?}"
    );
    for kind in [Fault::Status500, Fault::Timeout, Fault::LostResponse] {
        assert!(
            counts.injected.get(&kind).copied().unwrap_or(0) > 100,
            "{kind:?} injected: {counts:?}"
        );
    }
}

/// The durable variants: PostgreSQL queue with the sender process killed, and the receiver process killed
/// behind the transactional inbox.
#[cfg(all(feature = "postgres", feature = "redis"))]
mod durable {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;

    use hookguard_sender::BoxedQueue;
    use hookguard_tower::extract::Webhook;
    use hookguard_tower::inbox::Inbox;
    use hookguard_tower::store::{PostgresStore, RedisStore, StoreError, StoredResponse};

    use super::*;

    fn url(var: &str, test: &str) -> Option<String> {
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

    fn unique(prefix: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!("{prefix}_{}_{nanos:x}", std::process::id())
    }

    async fn drop_schemas(url: &str, schemas: &[&str]) {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for schema in schemas {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&pool)
            .await
            .unwrap();
        }
    }

    async fn enqueue_all(queue: &BoxedQueue) {
        let now = Timestamp::now();
        let jobs: Vec<NewJob> = (0..EVENTS)
            .map(|i| {
                let body = Bytes::from(format!(r#"{{"type":"test.event","n":{i}}}"#));
                NewJob::new("ep", format!("evt_{i:05}"), "test.event", body, now).unwrap()
            })
            .collect();
        for chunk in jobs.chunks(1_000) {
            queue.enqueue_many(chunk.to_vec()).await.unwrap();
        }
    }

    async fn drain(queue: &BoxedQueue, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let stats = queue.stats(Timestamp::now()).await.unwrap();
            if stats.due + stats.scheduled + stats.in_flight == 0 {
                assert_eq!(stats.dead, 0, "no job is dead: {stats:?}");
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the queue drains: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A child process and the lines it prints; killed with SIGKILL when dropped.
    struct Process {
        child: Child,
        lines: mpsc::Receiver<String>,
    }

    impl Process {
        fn start(mut command: Command, ready: &str) -> Self {
            let mut child = command
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the child process");
            let stdout = child.stdout.take().unwrap();
            let (send, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if send.send(line).is_err() {
                        break;
                    }
                }
            });
            let process = Self { child, lines };
            process.wait_for(ready);
            process
        }

        /// Waits (at most 60 s) for a line containing `text`.
        fn wait_for(&self, text: &str) {
            loop {
                let line = self
                    .lines
                    .recv_timeout(Duration::from_secs(60))
                    .unwrap_or_else(|_| panic!("the child printed `{text}` within 60 s"));
                if line.contains(text) {
                    return;
                }
            }
        }

        /// `kill -9`, and waits until it is gone.
        fn kill_9(mut self) {
            self.child.kill().unwrap();
            let status = self.child.wait().unwrap();
            assert!(!status.success(), "killed, not exited: {status}");
        }
    }

    impl Drop for Process {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn sender_worker(queue_url: &str, schema: &str, endpoint: &str) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sender-worker"));
        command
            .args(["--queue", queue_url, "--namespace", schema])
            .args(["--endpoint", &format!("ep={endpoint}")])
            .args(["--slots", "32", "--batch", "16", "--timeout-ms", "400"])
            // 20 % faults make runs of failures: a breaker opening would only slow the proof down.
            .args(["--breaker", "1000"]);
        Process::start(command, "ready pid=")
    }

    async fn wait_handled(what: &str, count: impl Fn() -> usize, at: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        while count() < at {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: {} of {at} events handled within 300 s",
                count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_queue_and_redis_store_with_the_sender_killed_twice() {
        const TEST: &str = "postgres_queue_and_redis_store_with_the_sender_killed_twice";
        let _serial = SERIAL.lock().await;
        let (Some(pg), Some(redis)) = (url("DATABASE_URL", TEST), url("REDIS_URL", TEST)) else {
            return;
        };
        let schema = unique("hg_proof_q");
        let queue = BoxedQueue::open(&pg, Some(&schema)).await.unwrap();
        let store = RedisStore::connect(&redis)
            .await
            .unwrap()
            .prefix(format!("{schema}:idem:"));
        let effects = Effects::default();
        let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET).unwrap();
        let app = Router::new()
            .route("/hook", post(effect))
            .with_state(Arc::clone(&effects))
            .layer(WebhookLayer::new(verifier).idempotency(store));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let proxy = FaultProxy::start(upstream, plan()).await.unwrap();
        let endpoint = format!("{}/hook", proxy.url());
        enqueue_all(&queue).await;

        let handled = || effects.lock().unwrap().len();
        for at in [EVENTS / 3, 2 * EVENTS / 3] {
            let worker = sender_worker(&pg, &schema, &endpoint);
            wait_handled("progress before the kill", handled, at).await;
            worker.kill_9();
        }
        let last = sender_worker(&pg, &schema, &endpoint);
        drain(&queue, Duration::from_secs(240)).await;
        drop(last);

        {
            let effects = effects.lock().unwrap();
            assert_eq!(effects.len(), EVENTS, "every event took effect");
            let twice: Vec<_> = effects.iter().filter(|(_, n)| **n != 1).collect();
            assert!(
                twice.is_empty(),
                "handler effects == events exactly: {twice:?}"
            );
        }
        assert!(proxy.counts().injected.values().sum::<u64>() > 1_000);
        drop_schemas(&pg, &[&schema]).await;
        crate::common::delete_redis_keys(&redis, &format!("{schema}:*")).await;
    }

    /// The receiver child's handler: the effect is a row, written in the transaction that completes the
    /// event's idempotency record.
    async fn inbox_effect(
        State(schema): State<String>,
        Inbox(mut tx): Inbox,
        Webhook { verified, .. }: Webhook<serde_json::Value>,
    ) -> Result<StatusCode, StatusCode> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.effects (event_id) VALUES ($1)"
        )))
        .bind(verified.id())
        .execute(tx.connection())
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
        match tx
            .commit(&StoredResponse::new(StatusCode::NO_CONTENT, ""))
            .await
        {
            Ok(()) => Ok(StatusCode::NO_CONTENT),
            Err(StoreError::LeaseLost) => Err(StatusCode::CONFLICT),
            Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    /// The receiver process of the inbox proof (run by it; ignored when run directly): serves on
    /// `HOOKGUARD_PROOF_PORT` and prints `listening`.
    #[test]
    #[ignore = "the child process of the inbox proof, run by it"]
    fn inbox_receiver_child() {
        let (Ok(url), Ok(schema), Ok(port)) = (
            std::env::var("DATABASE_URL"),
            std::env::var("HOOKGUARD_PROOF_SCHEMA"),
            std::env::var("HOOKGUARD_PROOF_PORT"),
        ) else {
            return;
        };
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let store = PostgresStore::connect(&url)
                    .await
                    .unwrap()
                    .schema(&format!("{schema}_idem"))
                    .unwrap();
                let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET).unwrap();
                let app = Router::new()
                    .route("/hook", post(inbox_effect))
                    .with_state(schema)
                    // A short lease: a claim the killed process held is free again within seconds.
                    .layer(
                        WebhookLayer::new(verifier)
                            .idempotency(store)
                            .lease(Duration::from_secs(3)),
                    );
                let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
                    .await
                    .unwrap();
                println!("listening");
                axum::serve(listener, app).await.unwrap();
            });
    }

    fn inbox_receiver(url: &str, schema: &str, port: u16) -> Process {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "durable::inbox_receiver_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .args(["--test-threads=1"])
            .env("DATABASE_URL", url)
            .env("HOOKGUARD_PROOF_SCHEMA", schema)
            .env("HOOKGUARD_PROOF_PORT", port.to_string());
        Process::start(command, "listening")
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn rows(pool: &sqlx::PgPool, schema: &str) -> (i64, i64) {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), count(DISTINCT event_id) FROM {schema}.effects"
        )))
        .fetch_one(pool)
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_queue_and_the_inbox_with_the_receiver_killed_twice() {
        const TEST: &str = "postgres_queue_and_the_inbox_with_the_receiver_killed_twice";
        let _serial = SERIAL.lock().await;
        let Some(pg) = url("DATABASE_URL", TEST) else {
            return;
        };
        let schema = unique("hg_proof_inbox");
        let idem = format!("{schema}_idem");
        let store = PostgresStore::connect(&pg)
            .await
            .unwrap()
            .schema(&idem)
            .unwrap();
        store.migrate().await.unwrap();
        let pool = store.pool().clone();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.effects (event_id text NOT NULL)"
        )))
        .execute(&pool)
        .await
        .unwrap();
        let queue = BoxedQueue::open(&pg, Some(&format!("{schema}_q")))
            .await
            .unwrap();

        let port = free_port();
        let proxy = FaultProxy::start(format!("http://127.0.0.1:{port}"), plan())
            .await
            .unwrap();
        let sender = Sender::builder(queue.clone())
            .endpoint(
                Endpoint::new("ep", format!("{}/hook", proxy.url()), SECRET)
                    .with_timeout(TIMEOUT)
                    .with_max_in_flight(32),
            )
            .workers(32)
            .batch(16)
            .lease(TIMEOUT + hookguard_sender::LEASE_MARGIN + Duration::from_millis(100))
            .retry_policy(RetryPolicy::exponential(
                Duration::from_millis(20),
                2.0,
                Duration::from_millis(500),
                30,
            ))
            .circuit_breaker(1_000, Duration::from_millis(100))
            .allow_private_networks()
            .build()
            .unwrap();
        enqueue_all(&queue).await;
        let workers = sender.spawn();

        for at in [EVENTS / 3, 2 * EVENTS / 3] {
            let receiver = inbox_receiver(&pg, &schema, port);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
            while usize::try_from(rows(&pool, &schema).await.1).unwrap() < at {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "progress before the kill"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            receiver.kill_9();
        }
        let _last = inbox_receiver(&pg, &schema, port);
        drain(&queue, Duration::from_secs(240)).await;
        workers.shutdown(Duration::from_secs(5)).await;

        let (all, distinct) = rows(&pool, &schema).await;
        assert_eq!(
            distinct,
            i64::try_from(EVENTS).unwrap(),
            "every event took effect"
        );
        assert_eq!(all, distinct, "handler effects (rows) == events exactly");
        drop_schemas(&pg, &[&schema, &idem, &format!("{schema}_q")]).await;
    }
}
