//! `RedisStore` against a real Redis (`REDIS_URL`): the conformance suite on two independently connected
//! handles, corrupt values, the wall-clock case on the server's clock, and two receiver replicas sharing
//! one Redis over real HTTP. Skipped with a printed line when `REDIS_URL` is unset, failed instead when
//! `HOOKGUARD_REQUIRE_BACKENDS=1`.

mod common;

use common::{Calls, app, serve};
use hookguard::Timestamp;
use hookguard_tower::WebhookLayer;
use hookguard_tower::conformance;
use hookguard_tower::store::{IdempotencyStore, RedisStore, TimeSource};

fn redis_url() -> Option<String> {
    common::backend_url("REDIS_URL", "redis_store")
}

/// A prefix no other test or run uses.
fn prefix() -> String {
    let hex = common::unique_hex(16);
    format!("hookguard-test:{hex}:")
}

async fn store(url: &str, prefix: &str, time: TimeSource) -> RedisStore {
    RedisStore::connect(url)
        .await
        .expect("connect to Redis")
        .prefix(prefix)
        .time_source(time)
        // Generous: the races queue a thousand scripts on one connection of a loaded machine.
        .timeout(std::time::Duration::from_secs(30))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_conforms() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let (one, two) = (
        store(&url, &prefix, TimeSource::Caller).await,
        store(&url, &prefix, TimeSource::Caller).await,
    );
    let clock = conformance::clock();
    conformance::run(one, two, &clock, 1_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_claims_through_four_instances_acquire_once() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(store(&url, &prefix, TimeSource::Server).await);
    }
    assert_eq!(common::race_across(&stores, 1_000).await, 1);
}

#[tokio::test]
async fn redis_store_reads_corrupt_values_as_absent() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let store = store(&url, &prefix, TimeSource::Caller).await;
    let client = redis::Client::open(url.as_str()).unwrap();
    let raw = client.get_multiplexed_async_connection().await.unwrap();
    let clock = conformance::clock();
    conformance::corrupt_records_read_as_absent(&store, &clock, |key, value| {
        let (mut raw, full) = (raw.clone(), format!("{prefix}{key}"));
        async move {
            let _: () = redis::cmd("SET")
                .arg(full)
                .arg(&value[..])
                .query_async(&mut raw)
                .await
                .unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn redis_store_keeps_deadlines_on_the_servers_clock() {
    let Some(url) = redis_url() else { return };
    let store = store(&url, &prefix(), TimeSource::Server).await;
    conformance::real_time(&store).await;
    // On the server's clock, the `now` a caller passes does not matter: a claim "from the far future"
    // still finds the lease held.
    let key = conformance::unique_key("server-clock");
    let lease = std::time::Duration::from_secs(30);
    let far = Timestamp::now() + std::time::Duration::from_secs(3600);
    let first = store
        .claim(&key, [1; 32], lease, lease, Timestamp::now())
        .await;
    assert!(matches!(
        first,
        Ok(hookguard_tower::store::Claim::Acquired { .. })
    ));
    let again = store.claim(&key, [1; 32], lease, lease, far).await;
    assert!(
        matches!(again, Ok(hookguard_tower::store::Claim::InProgress { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn two_replicas_on_one_redis_run_the_handler_once() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let calls = Calls::default();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        // Each replica connects on its own, as two processes behind a load balancer would.
        let layer = WebhookLayer::new(common::verifier())
            .idempotency(store(&url, &prefix, TimeSource::Server).await);
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
}
