//! The store conformance suite, run for `MemoryStore` and `BoxedStore`, plus what only `MemoryStore` does.

use std::time::Duration;

use hookguard::{Clock, Timestamp};
use hookguard_tower::conformance;
use hookguard_tower::store::{BoxedStore, Claim, IdempotencyStore, MemoryStore};

/// How many concurrent claims each race makes: `HOOKGUARD_CONFORMANCE_HEAVY`, 1 000 by default.
fn heavy() -> usize {
    std::env::var("HOOKGUARD_CONFORMANCE_HEAVY")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000)
}

/// One test, not two: each run ends in three races, and heavy tests do not run beside each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_and_boxed_store_conform() {
    let clock = conformance::clock();
    let memory = MemoryStore::new();
    conformance::run(memory.clone(), memory, &clock, heavy()).await;

    let clock = conformance::clock();
    let boxed = BoxedStore::new(MemoryStore::new());
    conformance::run(boxed.clone(), boxed, &clock, heavy()).await;
}

#[tokio::test]
async fn memory_store_reads_corrupt_records_as_absent_and_counts_them() {
    let (clock, store) = (conformance::clock(), MemoryStore::new());
    let raw = store.clone();
    let now = clock.now();
    conformance::corrupt_records_read_as_absent(&store, &clock, |key, value| {
        raw.insert_raw(&key, value, now);
        std::future::ready(())
    })
    .await;
    assert_eq!(store.stats().corrupt, 6);
}

#[tokio::test]
async fn memory_store_keeps_deadlines_on_the_wall_clock() {
    conformance::real_time(&MemoryStore::new()).await;
}

#[tokio::test]
async fn boxing_a_boxed_store_does_not_nest() {
    let boxed = BoxedStore::new(MemoryStore::new());
    let twice = BoxedStore::new(boxed.clone());
    assert_eq!(format!("{boxed:?}"), format!("{twice:?}"));
}

#[tokio::test]
async fn a_lease_lasts_to_the_millisecond_asked() {
    let store = MemoryStore::new();
    let key = conformance::unique_key("short-lease");
    let (lease, retention) = (Duration::from_secs(1), Duration::from_secs(60));
    let t0 = Timestamp::from_unix_millis(1_700_000_000_999);
    let claim = |at| store.claim(&key, [1; 32], lease, retention, at);
    assert!(matches!(
        claim(t0).await.unwrap(),
        Claim::Acquired {
            took_over: false,
            ..
        }
    ));
    assert!(matches!(
        claim(t0 + Duration::from_millis(999)).await.unwrap(),
        Claim::InProgress { retry_after } if retry_after == Duration::from_secs(1)
    ));
    assert!(matches!(
        claim(t0 + lease).await.unwrap(),
        Claim::Acquired {
            took_over: true,
            ..
        }
    ));
}

#[tokio::test]
async fn a_claim_that_is_never_awaited_takes_nothing() {
    let store = MemoryStore::new();
    let key = conformance::unique_key("unpolled");
    let (lease, now) = (Duration::from_secs(60), Timestamp::now());
    drop(store.claim(&key, [1; 32], lease, lease, now));
    assert_eq!(store.stats().records, 0);
    assert!(matches!(
        store.claim(&key, [1; 32], lease, lease, now).await.unwrap(),
        Claim::Acquired { .. }
    ));
}
