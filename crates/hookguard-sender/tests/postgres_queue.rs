//! `PostgresQueue` against a real PostgreSQL (`DATABASE_URL`): the conformance suite (one handle, and two
//! independently connected handles on one schema), the lease plan with a million finished jobs (`EXPLAIN`),
//! the transactional outbox delivered by a real `Sender`, LISTEN/NOTIFY across two queues, the idempotency
//! store and the queue migrated side by side into one database, and a private server restarted mid-run.
//! Each test has its own schema, dropped at the end. Skipped with a printed line when `DATABASE_URL` is
//! unset, failed instead when `HOOKGUARD_REQUIRE_BACKENDS=1`.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{EventLog, Receiver, Reply};
use hookguard::{Scheme, Verifier};
use hookguard_sender::conformance;
use hookguard_sender::{
    Attempt, AttemptResult, Event, JobState, LeaseOptions, NewJob, PostgresQueue, Queue,
    RetryPolicy, Sender, TimeSource, Timestamp, Transition,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};

const S: Duration = Duration::from_secs(1);

/// Held by the heavy tests (the conformance races, a million rows, a server restart): they do not run in
/// parallel with each other on the 2-core machine.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn database_url(test: &str) -> Option<String> {
    common::backend_url("DATABASE_URL", test)
}

/// A schema no other test or run uses.
fn schema() -> String {
    format!("hookguard_qtest_{}", common::unique_hex(8))
}

/// A pool of its own with generous timeouts: the concurrent checks queue many statements on a loaded
/// machine (they check who wins, not how fast).
async fn pool(url: &str, max: u32) -> PgPool {
    let options: PgConnectOptions = url.parse().expect("DATABASE_URL");
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options.application_name("hookguard-queue-test"))
        .await
        .expect("connect to PostgreSQL")
}

async fn queue_on(pool: PgPool, schema: &str, time: TimeSource) -> PostgresQueue {
    let queue = PostgresQueue::new(pool)
        .schema(schema)
        .expect("a plain schema name")
        .time_source(time)
        .timeout(Duration::from_secs(60));
    queue.migrate().await.expect("migrate");
    queue
}

async fn drop_schema(pool: &PgPool, schema: &str) {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(pool)
    .await
    .expect("drop the test schema");
}

/// Polls `check` every 50 ms until it holds, failing after `bound` (a bound on a wait, not a timing
/// assertion).
async fn eventually<F, Fut>(bound: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < bound, "not within {bound:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A receiver on the system clock answering 200.
async fn receiver() -> Receiver {
    let verifier = Verifier::new(Scheme::standard_webhooks(), common::KEY).unwrap();
    Receiver::start_with("rx", verifier, [], Reply::status(200), EventLog::default()).await
}

/// A sender on `queue` delivering endpoint `ep` to `rx`, retrying quickly and often (≥ 20 attempts).
fn sender(queue: PostgresQueue, rx: &Receiver) -> Sender<PostgresQueue> {
    Sender::builder(queue)
        .allow_private_networks()
        .endpoint(common::endpoint("ep", &rx.url()).with_max_in_flight(16))
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(50),
            2.0,
            Duration::from_millis(500),
            30,
        ))
        .lease(S * 10)
        .reap_interval(S)
        .queue_timeout(S * 2)
        .workers(16)
        .batch(16)
        .build()
        .expect("a valid sender")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_queue_conforms() {
    let Some(url) = database_url("postgres_queue_conforms") else {
        return;
    };
    let _heavy = HEAVY.lock().await;
    let shared = pool(&url, 16).await;
    let schemas = Arc::new(Mutex::new(Vec::new()));
    let make = || {
        let (pool, schemas) = (shared.clone(), Arc::clone(&schemas));
        async move {
            let name = schema();
            schemas.lock().unwrap().push(name.clone());
            queue_on(pool, &name, TimeSource::Caller).await
        }
    };
    conformance::run_with(
        make,
        conformance::Options {
            jobs: 1_000,
            tasks: 16,
        },
    )
    .await;

    // Two processes: each with its own pool, built independently, migrating at once.
    let name = schema();
    schemas.lock().unwrap().push(name.clone());
    let (one, two) = (pool(&url, 4).await, pool(&url, 4).await);
    conformance::run_shared(|| {
        let (one, two, name) = (one.clone(), two.clone(), name.clone());
        async move {
            let a = PostgresQueue::new(one)
                .schema(&name)
                .unwrap()
                .time_source(TimeSource::Caller);
            let b = PostgresQueue::new(two)
                .schema(&name)
                .unwrap()
                .time_source(TimeSource::Caller);
            let (ma, mb) = tokio::join!(a.migrate(), b.migrate());
            ma.and(mb).expect("concurrent migrations");
            (a, b)
        }
    })
    .await;
    let names: Vec<String> = schemas.lock().unwrap().drain(..).collect();
    for name in names {
        drop_schema(&shared, &name).await;
    }
}

/// Every plan node of an `EXPLAIN (FORMAT JSON)` document: `(node type, relation, index)`.
fn plan_nodes(plan: &serde_json::Value, out: &mut Vec<(String, String, String)>) {
    let field = |name: &str| plan[name].as_str().unwrap_or_default().to_owned();
    out.push((
        field("Node Type"),
        field("Relation Name"),
        field("Index Name"),
    ));
    for child in plan["Plans"].as_array().into_iter().flatten() {
        plan_nodes(child, out);
    }
}

#[tokio::test]
async fn leasing_uses_the_partial_index_with_a_million_finished_jobs() {
    let Some(url) = database_url("leasing_uses_the_partial_index") else {
        return;
    };
    let _heavy = HEAVY.lock().await;
    let pool = pool(&url, 2).await;
    let name = schema();
    let queue = queue_on(pool.clone(), &name, TimeSource::Server).await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "INSERT INTO {name}.endpoints (id) SELECT 'ep_' || g FROM generate_series(0, 19) g; \
         INSERT INTO {name}.jobs (endpoint_id, event_id, event_type, payload, created_at, state, finished_at) \
         SELECT 'ep_' || (g % 20), 'done_' || g, 'test.event', '\\x7b7d'::bytea, 0, 'delivered', 0 \
         FROM generate_series(1, 1000000) g"
    )))
    .execute(&pool)
    .await
    .expect("a million delivered jobs");
    let now = Timestamp::now();
    let jobs = (0..10)
        .map(|i| {
            NewJob::new(
                format!("ep_{}", i % 5),
                format!("due_{i}"),
                "t",
                "{}".into(),
                now,
            )
            .unwrap()
        })
        .collect();
    queue.enqueue_many(jobs).await.unwrap();
    // Table statistics, but none yet for the partial indexes (only VACUUM counts their rows): the plan must
    // not depend on them.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "ANALYZE {name}.jobs; ANALYZE {name}.endpoints"
    )))
    .execute(&pool)
    .await
    .unwrap();

    let lease_sql =
        include_str!("../src/queue/postgres/lease.sql").replace("{schema}", name.as_str());
    let mut conn = pool.acquire().await.unwrap();
    for mode in ["auto", "force_generic_plan"] {
        sqlx::raw_sql(AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
            .execute(&mut *conn)
            .await
            .unwrap();
        let row = sqlx::query(AssertSqlSafe(format!("EXPLAIN (FORMAT JSON) {lease_sql}")))
            .bind(now.as_unix_millis())
            .bind(None::<i64>)
            .bind(64_i64)
            .bind(30_000_i64)
            .bind(vec!["ep_3".to_owned()])
            .bind(vec!["ep_1".to_owned()])
            .bind(vec![2_i64])
            .bind(16_i64)
            .fetch_one(&mut *conn)
            .await
            .expect("EXPLAIN the lease statement");
        let text: String = row.try_get_unchecked(0).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut nodes = Vec::new();
        plan_nodes(&doc[0]["Plan"], &mut nodes);
        assert!(
            nodes.iter().any(|(_, _, index)| index == "jobs_due"),
            "{mode}: the lease reads the partial index: {nodes:?}"
        );
        assert!(
            !nodes
                .iter()
                .any(|(kind, relation, _)| kind == "Seq Scan" && relation == "jobs"),
            "{mode}: no sequential scan of jobs: {nodes:?}"
        );
    }
    // The operator's counts read the partial indexes too, never the million finished jobs.
    for file in ["stats", "endpoint_stats"] {
        let sql = std::fs::read_to_string(format!(
            "{}/src/queue/postgres/{file}.sql",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .replace("{schema}", name.as_str());
        let row = sqlx::query(AssertSqlSafe(format!("EXPLAIN (FORMAT JSON) {sql}")))
            .bind(None::<i64>)
            .fetch_one(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("EXPLAIN {file}: {e}"));
        let text: String = row.try_get_unchecked(0).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut nodes = Vec::new();
        plan_nodes(&doc[0]["Plan"], &mut nodes);
        assert!(
            !nodes
                .iter()
                .any(|(kind, relation, _)| kind == "Seq Scan" && relation == "jobs"),
            "{file}: no sequential scan of jobs: {nodes:?}"
        );
    }
    drop(conn);
    let per_endpoint = queue.endpoint_stats(now).await.unwrap();
    assert_eq!(
        per_endpoint
            .iter()
            .map(|(ep, s)| (ep.as_str(), s.due))
            .collect::<Vec<_>>(),
        [
            ("ep_0", 2),
            ("ep_1", 2),
            ("ep_2", 2),
            ("ep_3", 2),
            ("ep_4", 2)
        ],
        "finished jobs are not counted"
    );
    // And it leases what is due, from the allowed endpoints only.
    let mut options = LeaseOptions::all();
    options.exclude.insert("ep_3".into());
    let leased = queue.lease(now, 64, S * 30, &options).await.unwrap();
    assert_eq!(leased.jobs.len(), 8, "ten due, two of them excluded");
    assert!(leased.jobs.iter().all(|l| l.job.endpoint_id != "ep_3"));
    drop_schema(&pool, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transactional_outbox_sends_what_commits_and_nothing_else() {
    let Some(url) = database_url("the_transactional_outbox") else {
        return;
    };
    let pool = pool(&url, 8).await;
    let name = schema();
    let queue = queue_on(pool.clone(), &name, TimeSource::Server).await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE {name}.invoices (id bigint PRIMARY KEY, paid boolean NOT NULL)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let rx = receiver().await;
    let sender = sender(queue.clone(), &rx);
    let insert = format!("INSERT INTO {name}.invoices (id, paid) VALUES ($1, true)");

    let mut tx = pool.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(insert.clone()))
        .bind(1_i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    let jobs = sender
        .jobs_for(&Event::new("invoice.paid", r#"{"invoice":1}"#).with_id("evt_rolled_back"))
        .unwrap();
    assert_eq!(jobs.len(), 1);
    let ids = queue.enqueue_in(&mut tx, jobs).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        queue.get(ids[0]).await.unwrap(),
        None,
        "a rolled-back outbox has no job"
    );
    assert_eq!(queue.stats(Timestamp::now()).await.unwrap().due, 0);

    let mut tx = pool.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(insert))
        .bind(2_i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    let jobs = sender
        .jobs_for(&Event::new("invoice.paid", r#"{"invoice":2}"#).with_id("evt_committed"))
        .unwrap();
    let ids = queue.enqueue_in(&mut tx, jobs).await.unwrap();
    tx.commit().await.unwrap();

    let workers = sender.spawn();
    eventually(S * 30, "the committed job is delivered", || async {
        matches!(
            queue.get(ids[0]).await.unwrap().map(|r| r.state),
            Some(JobState::Delivered { .. })
        )
    })
    .await;
    workers.shutdown(S * 5).await;
    let requests = rx.requests();
    let got: Vec<&str> = requests.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(got, ["evt_committed"], "only the committed event went out");
    assert_eq!(
        requests[0].verified,
        Ok(0),
        "signed with the endpoint's key"
    );
    assert_eq!(&requests[0].body[..], br#"{"invoice":2}"#);
    drop_schema(&pool, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_wakes_when_another_instance_enqueues_due_work() {
    let Some(url) = database_url("a_waiter_wakes_on_notify") else {
        return;
    };
    let name = schema();
    let waiting = queue_on(pool(&url, 2).await, &name, TimeSource::Server).await;
    let other = queue_on(pool(&url, 2).await, &name, TimeSource::Server).await;
    waiting.listen().await.expect("the listener is up");

    let now = Timestamp::now();
    let mut wait = Box::pin(waiting.wait_for_work(now, now + S * 30));
    // Poll once so the waiter is registered before the notification can arrive.
    tokio::select! {
        biased;
        () = &mut wait => panic!("woke before any work was enqueued"),
        () = std::future::ready(()) => {}
    }
    let job = NewJob::new("ep", "wake_me", "t", "{}".into(), now).unwrap();
    other.enqueue(job).await.unwrap();
    tokio::time::timeout(S * 10, wait)
        .await
        .expect("woken by the other instance's NOTIFY, long before the 30 s poll");

    drop_schema(waiting.pool(), &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idempotency_store_and_the_queue_share_one_database() {
    use axum::routing::post;
    use hookguard_tower::WebhookLayer;
    use hookguard_tower::store::PostgresStore;

    let Some(url) = database_url("store_and_queue_side_by_side") else {
        return;
    };
    let pool = pool(&url, 8).await;
    let (store_schema, queue_schema) = (schema(), schema());
    let store = PostgresStore::new(pool.clone())
        .schema(&store_schema)
        .unwrap();
    let queue = PostgresQueue::new(pool.clone())
        .schema(&queue_schema)
        .unwrap();
    let (a, b) = tokio::join!(store.migrate(), queue.migrate());
    a.expect("migrate the store");
    b.expect("migrate the queue");
    for (schema, table) in [(&store_schema, "records"), (&queue_schema, "jobs")] {
        let versions: Vec<(i32, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT version, name FROM {schema}.migrations ORDER BY version"
        )))
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(versions.len(), 1, "{schema}: {versions:?}");
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(format!("{schema}.{table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(exists, "{schema}.{table}");
    }

    // A receiver deduplicating with the store, fed by a sender on the queue: one database, both in use.
    let handled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&handled);
    let verifier = Verifier::new(Scheme::standard_webhooks(), common::KEY).unwrap();
    let app = axum::Router::new()
        .route(
            "/hooks",
            post(move || {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { "ok" }
            }),
        )
        .layer(WebhookLayer::new(verifier).idempotency(store));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sender = Sender::builder(queue.clone())
        .allow_private_networks()
        .endpoint(common::endpoint("ep", &format!("http://{addr}/hooks")))
        .build()
        .unwrap();
    let id = sender
        .send(
            "ep",
            Event::new("invoice.paid", "{}").with_id("evt_side_by_side"),
        )
        .await
        .unwrap();
    let workers = sender.spawn();
    eventually(S * 30, "delivered through the layer", || async {
        matches!(
            queue.get(id).await.unwrap().map(|r| r.state),
            Some(JobState::Delivered { .. })
        )
    })
    .await;
    workers.shutdown(S * 5).await;
    assert_eq!(handled.load(std::sync::atomic::Ordering::SeqCst), 1);
    let records: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {store_schema}.records WHERE state = 2"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(records, 1, "the store kept the completed delivery");
    drop_schema(&pool, &store_schema).await;
    drop_schema(&pool, &queue_schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_restart_mid_run_loses_nothing() {
    let Some(server) = common::PrivatePostgres::start("a_server_restart_mid_run") else {
        return;
    };
    let _heavy = HEAVY.lock().await;
    let url = server.url();
    let options: PgConnectOptions = url.parse().unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(S * 5)
        .connect_with(options.application_name("hookguard-restart-test"))
        .await
        .expect("connect to the private server");
    let queue = PostgresQueue::new(pool).timeout(S * 10);
    queue.migrate().await.unwrap();
    // Each delivery takes 25 ms and at most two run at once: the run lasts seconds, and the server stops
    // early in it.
    let verifier = Verifier::new(Scheme::standard_webhooks(), common::KEY).unwrap();
    let slow = Reply::Slow(Duration::from_millis(25));
    let rx = Receiver::start_with("rx", verifier, [], slow, EventLog::default()).await;
    let sender = Sender::builder(queue.clone())
        .allow_private_networks()
        .endpoint(common::endpoint("ep", &rx.url()).with_max_in_flight(2))
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(50),
            2.0,
            Duration::from_millis(500),
            30,
        ))
        .lease(S * 10)
        .reap_interval(S)
        .queue_timeout(S * 5)
        .build()
        .unwrap();
    const JOBS: usize = 300;
    let mut expected = HashSet::new();
    for chunk in 0..JOBS / 50 {
        let mut jobs = Vec::new();
        for i in 0..50 {
            let id = format!("evt_{}", chunk * 50 + i);
            jobs.extend(
                sender
                    .jobs_for(&Event::new("t", "{}").with_id(id.clone()))
                    .unwrap(),
            );
            expected.insert(id);
        }
        queue.enqueue_many(jobs).await.unwrap();
    }
    let workers = sender.spawn();
    eventually(S * 60, "deliveries under way", || async {
        rx.count() >= JOBS / 5
    })
    .await;
    server.stop();
    let during = rx.count();
    server.start_again();
    eventually(S * 120, "every job delivered after the restart", || async {
        let Ok(stats) = queue.stats(Timestamp::now()).await else {
            return false;
        };
        stats.due + stats.scheduled + stats.in_flight == 0
    })
    .await;
    workers.shutdown(S * 5).await;

    let stats = queue.stats(Timestamp::now()).await.unwrap();
    assert_eq!(stats.dead, 0, "no dead letters");
    let delivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM hookguard_queue.jobs WHERE state = 'delivered'")
            .fetch_one(queue.pool())
            .await
            .unwrap();
    assert_eq!(delivered, JOBS as i64, "every job delivered, none lost");
    let received: HashSet<String> = rx
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(received, expected, "the receiver saw every event");
    assert!(
        during < JOBS,
        "the restart happened mid-run ({during} of {JOBS} delivered before it)"
    );
}

#[tokio::test]
async fn schema_names_that_are_not_plain_identifiers_are_refused() {
    let pool = PgPoolOptions::new()
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .unwrap();
    let queue = PostgresQueue::new(pool);
    for bad in ["", "Upper", "1st", "a;drop", "a.b", &"x".repeat(64)] {
        assert!(queue.clone().schema(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(queue.clone().schema("ok_1").unwrap().schema_name(), "ok_1");
    // A call on an unreachable server is `Unavailable` (retried), not a permanent error.
    let err = queue
        .timeout(S)
        .stats(Timestamp::now())
        .await
        .expect_err("nothing listens on port 1");
    assert!(err.is_transient(), "{err:?}");
}

/// An attempt, for the checks that conclude by hand.
fn ok_attempt(number: u32, at: Timestamp) -> Attempt {
    Attempt::new(
        number,
        at,
        AttemptResult::Status(200),
        Duration::from_millis(3),
    )
}

#[tokio::test]
async fn server_clock_deadlines_ignore_a_skewed_caller() {
    let Some(url) = database_url("server_clock_deadlines") else {
        return;
    };
    let pool = pool(&url, 2).await;
    let name = schema();
    let queue = queue_on(pool.clone(), &name, TimeSource::Server).await;
    // A caller whose clock is an hour ahead: its job, due "now" by its clock, is due now on the server's.
    let skewed = Timestamp::now() + S * 3600;
    queue
        .enqueue(NewJob::new("ep", "skewed", "t", "{}".into(), skewed).unwrap())
        .await
        .unwrap();
    let leased = queue
        .lease(skewed, 10, S * 30, &LeaseOptions::all())
        .await
        .unwrap();
    assert_eq!(leased.jobs.len(), 1, "due on the server's clock");
    let JobState::InFlight { until } = queue
        .get(leased.jobs[0].job.id)
        .await
        .unwrap()
        .unwrap()
        .state
    else {
        panic!("in flight")
    };
    assert!(
        until < Timestamp::now() + S * 60,
        "the lease runs 30 s on the server's clock, not from the skewed caller's now: {until}"
    );
    // Reaping with an even further skewed `now` takes nothing: the lease has not lapsed on the server.
    assert_eq!(
        queue.reap(skewed + S * 7200, 3, 10).await.unwrap(),
        (0, false)
    );
    // A heartbeat keeps its distance from now: 60 s on the server's clock.
    let handle = leased.jobs[0].handle.clone();
    queue
        .extend(&handle, skewed + S * 60, skewed)
        .await
        .unwrap();
    let JobState::InFlight { until } = queue.get(handle.id).await.unwrap().unwrap().state else {
        panic!("in flight")
    };
    assert!(
        until > Timestamp::now() + S * 30 && until < Timestamp::now() + S * 90,
        "extended by 60 s on the server's clock: {until}"
    );
    // A retry an hour after the skewed `now` is due an hour after the server's: not now, and not two hours.
    let retry = Transition::RetryAt {
        at: skewed + S * 3600,
        attempt: ok_attempt(1, skewed),
    };
    let results = queue.conclude(skewed, vec![(handle, retry)]).await.unwrap();
    assert!(results[0].is_ok());
    let JobState::Scheduled { due_at } = queue
        .get(leased.jobs[0].job.id)
        .await
        .unwrap()
        .unwrap()
        .state
    else {
        panic!("scheduled")
    };
    let now = Timestamp::now();
    assert!(
        due_at > now + S * 3000 && due_at < now + S * 3700,
        "due in an hour on the server's clock: {due_at}"
    );
    let next = queue
        .lease(skewed, 10, S * 30, &LeaseOptions::all())
        .await
        .unwrap();
    assert!(next.jobs.is_empty(), "not due yet");
    let next_due = next.next_due.expect("a scheduled job");
    assert!(
        next_due > skewed + S * 3000 && next_due < skewed + S * 3700,
        "next_due is in the caller's frame (an hour after its skewed now): {next_due}"
    );
    drop_schema(&pool, &name).await;
}

#[allow(clippy::let_underscore_future)]
#[tokio::test]
async fn the_queue_and_its_futures_are_send_and_sync() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync + Clone + std::fmt::Debug>(_: &T) {}
    let pool = PgPoolOptions::new()
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .unwrap();
    let queue = PostgresQueue::new(pool);
    assert_send_sync(&queue);
    let options = LeaseOptions::all();
    assert_send(&queue.lease(Timestamp::EPOCH, 1, Duration::ZERO, &options));
    assert_send(&queue.conclude(Timestamp::EPOCH, Vec::new()));
    assert_send(&queue.enqueue_many(Vec::new()));
    assert_send(&queue.wait_for_work(Timestamp::EPOCH, Timestamp::EPOCH));
    assert_send(&queue.migrate());
    assert_send(&queue.listen());
    let boxed = hookguard_sender::BoxedQueue::new(queue);
    assert_send(&boxed.stats(Timestamp::EPOCH));
}

#[tokio::test]
async fn connected_sessions_time_out_statements_and_never_jit_compile() {
    let Some(url) = database_url("connected_sessions_time_out_statements_and_never_jit_compile")
    else {
        return;
    };
    let queue = PostgresQueue::connect(&url).await.unwrap();
    let (jit, timeout): (String, String) =
        sqlx::query_as("SELECT current_setting('jit'), current_setting('statement_timeout')")
            .fetch_one(queue.pool())
            .await
            .unwrap();
    assert_eq!(
        jit, "off",
        "a large backlog must not make every lease compile"
    );
    assert_eq!(timeout, "5s");
    assert!(matches!(
        PostgresQueue::connect("not a url").await,
        Err(hookguard_sender::QueueError::InvalidConfig(_))
    ));
}
