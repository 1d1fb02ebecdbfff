//! The store conformance suite, run for `MemoryStore` and `BoxedStore`, plus `MemoryStore`'s bound.

use std::time::Duration;

use hookguard_tower::conformance::{self, ManualClock};
use hookguard_tower::store::{
    BoxedStore, Claim, IdempotencyStore, MemoryStore, StoreError, StoredResponse,
};
use http::StatusCode;

/// One test, not two: each run ends in a 1 000-way race, and heavy tests do not run beside each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_and_boxed_store_conform() {
    let clock = ManualClock::default();
    conformance::run(MemoryStore::new().with_clock(clock.clone()), &clock).await;

    let clock = ManualClock::default();
    conformance::run(
        BoxedStore::new(MemoryStore::new().with_clock(clock.clone())),
        &clock,
    )
    .await;
}

#[tokio::test]
async fn boxing_a_boxed_store_does_not_nest() {
    let boxed = BoxedStore::new(MemoryStore::new());
    let twice = BoxedStore::new(boxed.clone());
    assert_eq!(format!("{boxed:?}"), format!("{twice:?}"));
}

#[tokio::test]
async fn full_store_evicts_expired_records_then_refuses() {
    let clock = ManualClock::default();
    // One record per shard: the second live key in a shard is refused.
    let store = MemoryStore::with_capacity(1).with_clock(clock.clone());
    let lease = Duration::from_secs(10);
    let mut refused = None;
    let mut held = Vec::new();
    for i in 0..200 {
        let key = format!("k{i}").into();
        match store.claim(&key, [1; 32], lease).await {
            Ok(Claim::Acquired(token)) => held.push((key, token)),
            Err(e) => {
                refused = Some((key, e));
                break;
            }
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    let (key, error) = refused.expect("a store of 32 records refuses the 33rd key at the latest");
    assert!(
        matches!(error, StoreError::Full { capacity: 32 }),
        "{error:?}"
    );
    assert!(error.to_string().contains("full"));
    assert!(store.len() <= 32);

    // Completed records past their retention and lapsed leases make room again.
    let (first, token) = &held[0];
    store
        .complete(
            first,
            token,
            StoredResponse::new(StatusCode::OK, ""),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(11));
    assert!(matches!(
        store.claim(&key, [1; 32], lease).await,
        Ok(Claim::Acquired(_))
    ));
    assert_eq!(store.purge_expired(), held.len() - 1);
}

#[tokio::test]
async fn a_one_second_lease_outlasts_the_second_it_was_taken_in() {
    // The clock reads whole seconds: a claim late in second N must not lapse at N + 1.
    let clock = ManualClock::default();
    let store = MemoryStore::new().with_clock(clock.clone());
    let key = conformance::unique_key("short-lease");
    let lease = Duration::from_secs(1);
    assert!(matches!(
        store.claim(&key, [1; 32], lease).await.unwrap(),
        Claim::Acquired(_)
    ));
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        store.claim(&key, [1; 32], lease).await.unwrap(),
        Claim::InProgress { retry_after } if retry_after == lease
    ));
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        store.claim(&key, [1; 32], lease).await.unwrap(),
        Claim::Acquired(_)
    ));
}

#[tokio::test]
async fn a_claim_that_is_never_awaited_takes_nothing() {
    let store = MemoryStore::new();
    let key = conformance::unique_key("unpolled");
    drop(store.claim(&key, [1; 32], Duration::from_secs(60)));
    assert!(store.is_empty());
    assert!(matches!(
        store
            .claim(&key, [1; 32], Duration::from_secs(60))
            .await
            .unwrap(),
        Claim::Acquired(_)
    ));
}
