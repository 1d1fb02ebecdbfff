//! The store conformance suite: one generic run of the [`IdempotencyStore`] contract, for every backend.
//!
//! Hidden from the docs and behind the `conformance` feature; a backend's tests enable the feature (as a
//! dev-dependency) and call [`run`] with a store built on a [`ManualClock`] so that leases and retentions
//! expire without sleeping. Keys are random per case, so the suite may share a backend with other tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::store::{Claim, IdempotencyKey, IdempotencyStore, StoreError, StoredResponse, Token};

/// A clock that moves only when told to; clones share one time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock at `now` (Unix seconds).
    pub fn new(now: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(1_700_000_000)
    }
}

impl hookguard::Clock for ManualClock {
    fn now(&self) -> hookguard::Timestamp {
        hookguard::Timestamp::from_unix_seconds(self.0.load(Ordering::SeqCst))
    }
}

const LEASE: Duration = Duration::from_secs(30);
const RETENTION: Duration = Duration::from_secs(3600);
const FP_A: [u8; 32] = [0xa; 32];
const FP_B: [u8; 32] = [0xb; 32];

/// A key no other case or test run uses.
pub fn unique_key(case: &str) -> IdempotencyKey {
    let t = Token::random();
    let hex: String = t.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    IdempotencyKey::new(format!("conformance:{case}:{hex}"))
}

fn response() -> StoredResponse {
    let mut r = StoredResponse::new(StatusCode::CREATED, Bytes::from_static(b"{\"ok\":true}"));
    r.headers.push((
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    ));
    r
}

async fn acquire<S: IdempotencyStore>(
    store: &S,
    key: &IdempotencyKey,
    fp: [u8; 32],
    lease: Duration,
) -> Token {
    match store.claim(key, fp, lease).await {
        Ok(Claim::Acquired(token)) => token,
        other => panic!("expected Acquired for {key}, got {other:?}"),
    }
}

/// Runs every case against `store`, whose notion of "now" must come from `clock`.
pub async fn run<S: IdempotencyStore + Clone>(store: S, clock: &ManualClock) {
    fresh_claim(&store).await;
    replay(&store).await;
    mismatch_while_completed(&store).await;
    mismatch_while_in_progress(&store).await;
    in_progress(&store).await;
    release_then_reclaim(&store).await;
    release_with_other_token_is_noop(&store).await;
    release_and_complete_after_complete(&store).await;
    lapsed_lease_taken_over(&store, clock).await;
    lapsed_lease_not_taken_over_still_completes(&store, clock).await;
    retention_expiry(&store, clock).await;
    concurrent_claims(store, 1000).await;
}

/// A key never seen is acquired.
pub async fn fresh_claim<S: IdempotencyStore>(store: &S) {
    let key = unique_key("fresh");
    acquire(store, &key, FP_A, LEASE).await;
}

/// A completed record replays its response, headers and body included.
pub async fn replay<S: IdempotencyStore>(store: &S) {
    let key = unique_key("replay");
    let token = acquire(store, &key, FP_A, LEASE).await;
    store
        .complete(&key, &token, response(), RETENTION)
        .await
        .expect("complete");
    for _ in 0..2 {
        assert_eq!(
            store.claim(&key, FP_A, LEASE).await.unwrap(),
            Claim::Completed(response())
        );
    }
}

/// Another payload under a completed key is a mismatch, not a replay.
pub async fn mismatch_while_completed<S: IdempotencyStore>(store: &S) {
    let key = unique_key("mismatch-completed");
    let token = acquire(store, &key, FP_A, LEASE).await;
    store
        .complete(&key, &token, response(), RETENTION)
        .await
        .unwrap();
    assert_eq!(
        store.claim(&key, FP_B, LEASE).await.unwrap(),
        Claim::Mismatch
    );
    assert_eq!(
        store.claim(&key, FP_A, LEASE).await.unwrap(),
        Claim::Completed(response())
    );
}

/// Another payload under an in-progress key is a mismatch, not "in progress".
pub async fn mismatch_while_in_progress<S: IdempotencyStore>(store: &S) {
    let key = unique_key("mismatch-in-progress");
    acquire(store, &key, FP_A, LEASE).await;
    assert_eq!(
        store.claim(&key, FP_B, LEASE).await.unwrap(),
        Claim::Mismatch
    );
}

/// A second claim while the first holds the lease waits, with a retry hint within the lease.
pub async fn in_progress<S: IdempotencyStore>(store: &S) {
    let key = unique_key("in-progress");
    acquire(store, &key, FP_A, LEASE).await;
    match store.claim(&key, FP_A, LEASE).await.unwrap() {
        Claim::InProgress { retry_after } => {
            assert!(
                retry_after >= Duration::from_secs(1) && retry_after <= LEASE,
                "retry_after {retry_after:?}"
            );
        }
        other => panic!("expected InProgress, got {other:?}"),
    }
}

/// Release deletes the record; the next claim gets a new token.
pub async fn release_then_reclaim<S: IdempotencyStore>(store: &S) {
    let key = unique_key("release");
    let first = acquire(store, &key, FP_A, LEASE).await;
    store.release(&key, &first).await.unwrap();
    let second = acquire(store, &key, FP_B, LEASE).await;
    assert_ne!(first, second);
}

/// Releasing with a token that does not hold the record changes nothing.
pub async fn release_with_other_token_is_noop<S: IdempotencyStore>(store: &S) {
    let key = unique_key("release-other");
    acquire(store, &key, FP_A, LEASE).await;
    store.release(&key, &Token::random()).await.unwrap();
    assert!(matches!(
        store.claim(&key, FP_A, LEASE).await.unwrap(),
        Claim::InProgress { .. }
    ));
    assert!(matches!(
        store
            .complete(&key, &Token::random(), response(), RETENTION)
            .await,
        Err(StoreError::LeaseLost)
    ));
}

/// Once completed, the token no longer holds the record: a late release keeps it, a second complete fails.
pub async fn release_and_complete_after_complete<S: IdempotencyStore>(store: &S) {
    let key = unique_key("after-complete");
    let token = acquire(store, &key, FP_A, LEASE).await;
    store
        .complete(&key, &token, response(), RETENTION)
        .await
        .unwrap();
    store.release(&key, &token).await.unwrap();
    let other = StoredResponse::new(StatusCode::INTERNAL_SERVER_ERROR, "");
    assert!(matches!(
        store.complete(&key, &token, other, RETENTION).await,
        Err(StoreError::LeaseLost)
    ));
    assert_eq!(
        store.claim(&key, FP_A, LEASE).await.unwrap(),
        Claim::Completed(response())
    );
}

/// A lapsed lease is taken over with a new token; the old token can then neither complete nor release.
pub async fn lapsed_lease_taken_over<S: IdempotencyStore>(store: &S, clock: &ManualClock) {
    let key = unique_key("takeover");
    let old = acquire(store, &key, FP_A, Duration::from_secs(10)).await;
    clock.advance(Duration::from_secs(5));
    assert!(matches!(
        store.claim(&key, FP_A, LEASE).await.unwrap(),
        Claim::InProgress { .. }
    ));
    clock.advance(Duration::from_secs(6));
    let new = acquire(store, &key, FP_A, LEASE).await;
    assert_ne!(old, new);
    assert!(matches!(
        store.complete(&key, &old, response(), RETENTION).await,
        Err(StoreError::LeaseLost)
    ));
    store.release(&key, &old).await.unwrap();
    assert!(matches!(
        store.claim(&key, FP_A, LEASE).await.unwrap(),
        Claim::InProgress { .. }
    ));
    store
        .complete(&key, &new, response(), RETENTION)
        .await
        .unwrap();
    assert_eq!(
        store.claim(&key, FP_A, LEASE).await.unwrap(),
        Claim::Completed(response())
    );

    // A lapsed record is dead whatever its payload: another payload takes it over too.
    let key = unique_key("takeover-other-payload");
    acquire(store, &key, FP_A, Duration::from_secs(10)).await;
    clock.advance(Duration::from_secs(11));
    acquire(store, &key, FP_B, LEASE).await;
}

/// A lapsed lease that nobody took over still lets its holder complete.
pub async fn lapsed_lease_not_taken_over_still_completes<S: IdempotencyStore>(
    store: &S,
    clock: &ManualClock,
) {
    let key = unique_key("lapsed-complete");
    let token = acquire(store, &key, FP_A, Duration::from_secs(10)).await;
    clock.advance(Duration::from_secs(20));
    store
        .complete(&key, &token, response(), RETENTION)
        .await
        .unwrap();
    assert_eq!(
        store.claim(&key, FP_A, LEASE).await.unwrap(),
        Claim::Completed(response())
    );
}

/// A completed record replays until its retention runs out, then the key is new again.
pub async fn retention_expiry<S: IdempotencyStore>(store: &S, clock: &ManualClock) {
    let key = unique_key("retention");
    let token = acquire(store, &key, FP_A, LEASE).await;
    store
        .complete(&key, &token, response(), Duration::from_secs(60))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(59));
    assert_eq!(
        store.claim(&key, FP_A, LEASE).await.unwrap(),
        Claim::Completed(response())
    );
    clock.advance(Duration::from_secs(2));
    acquire(store, &key, FP_B, LEASE).await;
}

/// `n` concurrent claims of one key, on as many tasks: exactly one is acquired, every other waits.
pub async fn concurrent_claims<S: IdempotencyStore + Clone>(store: S, n: usize) {
    let key = unique_key("race");
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (store, key, barrier) = (store.clone(), key.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                store.claim(&key, FP_A, LEASE).await
            })
        })
        .collect();
    let (mut acquired, mut waiting) = (0, 0);
    for task in tasks {
        match task
            .await
            .expect("claim task panicked")
            .expect("claim failed")
        {
            Claim::Acquired(_) => acquired += 1,
            Claim::InProgress { .. } => waiting += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((acquired, waiting), (1, n - 1));
}
