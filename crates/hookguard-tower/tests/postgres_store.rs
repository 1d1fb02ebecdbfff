//! `PostgresStore` against a real PostgreSQL (`DATABASE_URL`): migrations run concurrently, the
//! conformance suite on two independently connected handles, corrupt responses, the wall-clock case on the
//! server's clock, and two receiver replicas sharing one database over real HTTP. Each test has its own
//! schema, dropped at the end. Skipped with a printed line when `DATABASE_URL` is unset, failed instead
//! when `HOOKGUARD_REQUIRE_BACKENDS=1`.

mod common;

use std::time::Duration;

use common::{Calls, app, serve};
use hookguard::Timestamp;
use hookguard_tower::WebhookLayer;
use hookguard_tower::conformance;
use hookguard_tower::store::{Claim, IdempotencyStore, PostgresStore, StoreError, TimeSource};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

fn database_url() -> Option<String> {
    common::backend_url("DATABASE_URL", "postgres_store")
}

/// A schema no other test or run uses.
fn schema() -> String {
    let hex = common::unique_hex(8);
    format!("hookguard_test_{hex}")
}

/// A store on its own small pool. The conformance races queue a thousand claims of one row on it, which
/// serialise on the row's lock: on a loaded machine that takes longer than the production timeouts, so
/// the test's are generous (the race checks who wins, not how fast).
async fn store(url: &str, schema: &str, time: TimeSource) -> PostgresStore {
    PostgresStore::new(pool(url, 8).await)
        .schema(schema)
        .expect("a plain schema name")
        .time_source(time)
        .timeout(Duration::from_secs(60))
}

async fn drop_schema(store: &PostgresStore, schema: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(store.pool())
        .await
        .expect("drop the test schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conforms() {
    let Some(url) = database_url() else { return };
    let schema = schema();
    let (one, two) = (
        store(&url, &schema, TimeSource::Caller).await,
        store(&url, &schema, TimeSource::Caller).await,
    );
    // Two replicas starting at once migrate once between them.
    let (a, b) = tokio::join!(one.migrate(), two.migrate());
    a.and(b).expect("migrate");
    one.migrate()
        .await
        .expect("migrating again changes nothing");
    let clock = conformance::clock();
    conformance::run(one.clone(), two, &clock, 1_000).await;
    drop_schema(&one, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_claims_through_four_instances_acquire_once() {
    let Some(url) = database_url() else { return };
    let schema = schema();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(store(&url, &schema, TimeSource::Server).await);
    }
    stores[0].migrate().await.unwrap();
    assert_eq!(common::race_across(&stores, 1_000).await, 1);
    drop_schema(&stores[0], &schema).await;
}

#[tokio::test]
async fn postgres_store_reads_corrupt_responses_as_absent() {
    let Some(url) = database_url() else { return };
    let schema = schema();
    let store = store(&url, &schema, TimeSource::Caller).await;
    store.migrate().await.unwrap();
    let clock = conformance::clock();
    let far = (clock_now(&clock) + 3_600_000).to_string();
    conformance::corrupt_records_read_as_absent(&store, &clock, |key, value| {
        let (pool, schema, far) = (store.pool().clone(), schema.clone(), far.clone());
        async move {
            // A completed row for the suite's fingerprint whose response is the garbage.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {schema}.records (key, fingerprint, state, lease_until, expires_at, response) \
                 VALUES ($1, $2, 2, 0, {far}, $3)"
            )))
            .bind(key.as_str())
            .bind(&[0xa_u8; 32][..])
            .bind(&value[..])
            .execute(&pool)
            .await
            .unwrap();
        }
    })
    .await;
    drop_schema(&store, &schema).await;
}

fn clock_now(clock: &hookguard::TestClock) -> i64 {
    hookguard::Clock::now(clock).as_unix_millis()
}

#[tokio::test]
async fn postgres_store_keeps_deadlines_on_the_servers_clock() {
    let Some(url) = database_url() else { return };
    let schema = schema();
    let store = store(&url, &schema, TimeSource::Server).await;
    store.migrate().await.unwrap();
    conformance::real_time(&store).await;
    let key = conformance::unique_key("server-clock");
    let lease = Duration::from_secs(30);
    let far = Timestamp::now() + Duration::from_secs(3600);
    let first = store
        .claim(&key, [1; 32], lease, lease, Timestamp::now())
        .await;
    assert!(matches!(first, Ok(Claim::Acquired { .. })), "{first:?}");
    let again = store.claim(&key, [1; 32], lease, lease, far).await;
    assert!(matches!(again, Ok(Claim::InProgress { .. })), "{again:?}");
    drop_schema(&store, &schema).await;
}

#[tokio::test]
async fn two_replicas_on_one_database_run_the_handler_once() {
    let Some(url) = database_url() else { return };
    let schema = schema();
    let calls = Calls::default();
    let mut replicas = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..2 {
        let store = store(&url, &schema, TimeSource::Server).await;
        store.migrate().await.unwrap();
        stores.push(store.clone());
        let layer = WebhookLayer::new(common::verifier()).idempotency(store);
        replicas.push(serve(app(layer, &calls)).await);
    }
    let (statuses, replays) = common::deliver_to_replicas(&replicas, "msg_replicas", 20).await;
    assert_eq!(calls.get(), 1, "statuses {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(replays, [true, true], "either replica replays it once done");
    assert_eq!(calls.get(), 1);
    drop_schema(&stores[0], &schema).await;
}

#[tokio::test]
async fn schema_names_that_are_not_plain_identifiers_are_refused() {
    let Some(url) = database_url() else { return };
    let store = PostgresStore::connect(&url).await.unwrap();
    for bad in ["", "Upper", "1st", "a;drop", "a.b", &"x".repeat(64)] {
        assert!(store.clone().schema(bad).is_err(), "{bad:?} accepted");
    }
}

/// A pool of up to `max` connections, named for these tests, that waits up to a minute for one.
async fn pool(url: &str, max: u32) -> sqlx::PgPool {
    let options: PgConnectOptions = url.parse().expect("DATABASE_URL");
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options.application_name("hookguard-test"))
        .await
        .expect("connect to PostgreSQL")
}

/// A store with one connection of its own and a short timeout, on a pool of one connection.
async fn single_connection_store(url: &str, schema: &str) -> PostgresStore {
    let store = PostgresStore::new(pool(url, 1).await)
        .schema(schema)
        .unwrap()
        .connections(1)
        .timeout(Duration::from_millis(500));
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn a_call_cut_short_does_not_hand_its_connection_to_the_next() {
    let Some(url) = database_url() else { return };
    let schema = schema();
    let store = single_connection_store(&url, &schema).await;
    let (lease, now) = (Duration::from_secs(60), Timestamp::now());
    let locked = conformance::unique_key("locked");
    let claim = store.claim(&locked, [1; 32], lease, lease, now).await;
    assert!(matches!(claim, Ok(Claim::Acquired { .. })), "{claim:?}");

    // Another session holds the row's lock, so the next claim of that key waits on the server until the
    // store's timeout cuts it short, its statement still running.
    let mut blocker = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM {schema}.records WHERE key = $1 FOR UPDATE"
    )))
    .bind(locked.as_str())
    .execute(&mut blocker)
    .await
    .unwrap();
    let cut = store.claim(&locked, [1; 32], lease, lease, now).await;
    assert!(
        matches!(cut, Err(StoreError::Unavailable { .. })),
        "{cut:?}"
    );

    // The only connection was left mid-statement; reused, the next call would queue behind it and time
    // out too. It gets a new connection instead, while the lock is still held.
    let free = conformance::unique_key("free");
    let next = store.claim(&free, [1; 32], lease, lease, now).await;
    assert!(matches!(next, Ok(Claim::Acquired { .. })), "{next:?}");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();
    drop_schema(&store, &schema).await;
}

#[tokio::test]
async fn claims_never_wait_for_the_connections_the_pool_lends_out() {
    let Some(url) = database_url() else { return };
    let schema = schema();
    let store = single_connection_store(&url, &schema).await;
    // A handler's inbox transaction holds the pool's only connection ...
    let tx = store.pool().begin().await.unwrap();
    // ... and the store's calls run on their own.
    let (key, lease, now) = (
        conformance::unique_key("beside-a-transaction"),
        Duration::from_secs(60),
        Timestamp::now(),
    );
    let claim = store.claim(&key, [1; 32], lease, lease, now).await;
    let Ok(Claim::Acquired { token, .. }) = claim else {
        panic!("{claim:?}")
    };
    let response = hookguard_tower::store::StoredResponse::new(http::StatusCode::OK, "done");
    store
        .complete(&key, &token, response, lease, now)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    drop_schema(&store, &schema).await;
}
