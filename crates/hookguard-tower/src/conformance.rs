//! The store conformance suite: one generic run of the [`IdempotencyStore`] contract, for every backend.
//!
//! Hidden from the docs and behind the `conformance` feature; a backend's tests enable the feature (as a
//! dev-dependency) and call [`run`] with two handles on one backend, built independently as two processes
//! would build them, and the [`TestClock`] whose time the suite passes to every call, so that leases and
//! retentions run out without sleeping. [`corrupt_records_read_as_absent`] needs a way to write raw bytes
//! under a key; [`real_time`] sleeps through a one-second lease on the wall clock, which catches a store
//! that leans on a native TTL. Keys are random per case, so the suite may share a backend with other tests.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use hookguard::{Clock, SystemClock, TestClock, Timestamp};
use http::{HeaderName, HeaderValue, StatusCode};

use crate::store::{
    Claim, IdempotencyKey, IdempotencyStore, RECORD_VERSION, Record, StoreError, StoredResponse,
    Token,
};

const LEASE: Duration = Duration::from_secs(30);
const RETENTION: Duration = Duration::from_secs(3600);
const FP_A: [u8; 32] = [0xa; 32];
const FP_B: [u8; 32] = [0xb; 32];

/// A clock at a fixed start, for a suite run.
pub fn clock() -> TestClock {
    TestClock::new(Timestamp::from_unix_seconds(1_700_000_000))
}

/// A key no other case or test run uses.
pub fn unique_key(case: &str) -> IdempotencyKey {
    let hex: String = Token::random()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    IdempotencyKey::new(format!("conformance:{case}:{hex}"))
}

fn response() -> StoredResponse {
    StoredResponse::new(StatusCode::CREATED, Bytes::from_static(b"{\"ok\":true}")).with_header(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )
}

/// A store and the clock its calls are made at, with the suite's default lease and retention.
struct On<'a, S> {
    store: &'a S,
    clock: &'a dyn Clock,
}

impl<S: IdempotencyStore> On<'_, S> {
    async fn claim_for(&self, key: &IdempotencyKey, fp: [u8; 32], lease: Duration) -> Claim {
        self.store
            .claim(key, fp, lease, RETENTION, self.clock.now())
            .await
            .unwrap_or_else(|e| panic!("claim of {key} failed: {e}"))
    }

    async fn claim(&self, key: &IdempotencyKey, fp: [u8; 32]) -> Claim {
        self.claim_for(key, fp, LEASE).await
    }

    async fn acquire_for(&self, key: &IdempotencyKey, fp: [u8; 32], lease: Duration) -> Token {
        match self.claim_for(key, fp, lease).await {
            Claim::Acquired { token, .. } => token,
            other => panic!("expected Acquired for {key}, got {other:?}"),
        }
    }

    async fn acquire(&self, key: &IdempotencyKey, fp: [u8; 32]) -> Token {
        self.acquire_for(key, fp, LEASE).await
    }

    async fn complete_with(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
    ) -> Result<(), StoreError> {
        self.store
            .complete(key, token, response, retention, self.clock.now())
            .await
    }

    async fn complete(&self, key: &IdempotencyKey, token: &Token) -> Result<(), StoreError> {
        self.complete_with(key, token, response(), RETENTION).await
    }

    async fn extend(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        lease: Duration,
    ) -> Result<(), StoreError> {
        self.store.extend(key, token, lease, self.clock.now()).await
    }

    async fn release(&self, key: &IdempotencyKey, token: &Token) {
        self.store
            .release(key, token, self.clock.now())
            .await
            .unwrap_or_else(|e| panic!("release of {key} failed: {e}"));
    }

    async fn assert_in_progress(&self, key: &IdempotencyKey, fp: [u8; 32]) {
        let claim = self.claim(key, fp).await;
        assert!(
            matches!(claim, Claim::InProgress { .. }),
            "expected InProgress for {key}, got {claim:?}"
        );
    }

    async fn assert_replays(&self, key: &IdempotencyKey, fp: [u8; 32], expected: &StoredResponse) {
        assert_eq!(
            self.claim(key, fp).await,
            Claim::Completed(expected.clone()),
            "replay of {key}"
        );
    }
}

fn is_lease_lost(result: &Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::LeaseLost))
}

/// Runs every case that the caller's clock can drive against `store` and `other`, a second handle on the
/// same backend built independently. `heavy` is the number of concurrent claims in the races.
pub async fn run<S: IdempotencyStore + Clone>(store: S, other: S, clock: &TestClock, heavy: usize) {
    let on = On {
        store: &store,
        clock,
    };
    fresh_claim(&on).await;
    replay(&on).await;
    distinct_responses_per_key(&on).await;
    awkward_keys(&on).await;
    mismatch(&on).await;
    retry_after_shrinks(&on, clock).await;
    release(&on).await;
    completed_is_never_released(&on).await;
    complete_without_the_record_is_lease_lost(&on).await;
    lapsed_lease_taken_over(&on, clock).await;
    mismatch_after_takeover_by_another_payload(&on, clock).await;
    lapsed_lease_not_taken_over(&on, clock).await;
    extend(&on, clock).await;
    retention_counts_from_complete(&on, clock).await;
    purge_expired(&on, clock).await;
    dropped_claim_takes_effect_wholly_or_not_at_all(&on).await;
    two_instances(&on, &other).await;
    concurrent_claims(&store, clock, heavy).await;
    concurrent_claims_of_a_lapsed_record(&store, clock, heavy).await;
    mixed_fingerprints_racing(&store, clock, heavy).await;
}

async fn fresh_claim<S: IdempotencyStore>(on: &On<'_, S>) {
    let key = unique_key("fresh");
    assert!(matches!(
        on.claim(&key, FP_A).await,
        Claim::Acquired {
            took_over: false,
            ..
        }
    ));
}

/// A completed record replays its response, headers and body included, as often as asked.
async fn replay<S: IdempotencyStore>(on: &On<'_, S>) {
    let key = unique_key("replay");
    let token = on.acquire(&key, FP_A).await;
    on.complete(&key, &token).await.expect("complete");
    for _ in 0..3 {
        on.assert_replays(&key, FP_A, &response()).await;
    }
}

/// Each key replays its own response: repeated headers, a binary body, a 64 KiB body, a bodiless 204.
async fn distinct_responses_per_key<S: IdempotencyStore>(on: &On<'_, S>) {
    let link = HeaderName::from_static("link");
    let responses = [
        StoredResponse::new(StatusCode::OK, "first")
            .with_header(link.clone(), HeaderValue::from_static("<a>; rel=a"))
            .with_header(link.clone(), HeaderValue::from_static("<b>; rel=b"))
            .with_header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain"),
            ),
        StoredResponse::new(StatusCode::ACCEPTED, (0..=255u8).collect::<Vec<u8>>()).with_header(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        ),
        StoredResponse::new(
            StatusCode::OK,
            (0..64 << 10)
                .map(|i: u32| (i % 251) as u8)
                .collect::<Vec<u8>>(),
        ),
        StoredResponse::new(StatusCode::NO_CONTENT, Bytes::new()),
        StoredResponse::new(StatusCode::GONE, "\u{00e9}v\u{00e9}nement inconnu").with_header(
            HeaderName::from_static("x-empty"),
            HeaderValue::from_static(""),
        ),
    ];
    let mut keys = Vec::new();
    for (i, response) in responses.iter().enumerate() {
        let key = unique_key(&format!("distinct-{i}"));
        let token = on.acquire(&key, FP_A).await;
        on.complete_with(&key, &token, response.clone(), RETENTION)
            .await
            .unwrap_or_else(|e| panic!("complete of response {i}: {e}"));
        keys.push(key);
    }
    for (key, response) in keys.iter().zip(&responses) {
        on.assert_replays(key, FP_A, response).await;
    }
}

/// Keys with braces, colons, globs, Unicode, and keys that are prefixes of each other stay apart.
async fn awkward_keys<S: IdempotencyStore>(on: &On<'_, S>) {
    let base = unique_key("awkward");
    let suffixes = [
        "",
        ":",
        ":1",
        ":10",
        ":{tag}",
        ":*",
        ":?[a]",
        ": ü → ✓",
        ":%s%n",
    ];
    for suffix in suffixes {
        let key = IdempotencyKey::new(format!("{base}{suffix}"));
        let token = on.acquire(&key, FP_A).await;
        let mine = StoredResponse::new(StatusCode::OK, key.as_str().to_owned());
        on.complete_with(&key, &token, mine, RETENTION)
            .await
            .unwrap_or_else(|e| panic!("complete of {key:?}: {e}"));
    }
    for suffix in suffixes {
        let key = IdempotencyKey::new(format!("{base}{suffix}"));
        let mine = StoredResponse::new(StatusCode::OK, key.as_str().to_owned());
        on.assert_replays(&key, FP_A, &mine).await;
    }
}

/// Another payload under a live key is a mismatch, in progress or completed, and changes nothing.
async fn mismatch<S: IdempotencyStore>(on: &On<'_, S>) {
    let key = unique_key("mismatch");
    let token = on.acquire(&key, FP_A).await;
    assert_eq!(on.claim(&key, FP_B).await, Claim::Mismatch);
    on.assert_in_progress(&key, FP_A).await;
    on.complete(&key, &token).await.unwrap();
    assert_eq!(on.claim(&key, FP_B).await, Claim::Mismatch);
    on.assert_replays(&key, FP_A, &response()).await;
}

/// The retry hint is the time left on the holder's lease, shrinking as time passes, at least a second.
async fn retry_after_shrinks<S: IdempotencyStore>(on: &On<'_, S>, clock: &TestClock) {
    let key = unique_key("retry-after");
    on.acquire(&key, FP_A).await;
    let retry_after = |claim| match claim {
        Claim::InProgress { retry_after } => retry_after,
        other => panic!("expected InProgress, got {other:?}"),
    };
    let first = retry_after(on.claim(&key, FP_A).await);
    assert!(
        first > LEASE - Duration::from_secs(2) && first <= LEASE,
        "{first:?}"
    );
    clock.advance(Duration::from_secs(20));
    let later = retry_after(on.claim(&key, FP_A).await);
    assert!(
        later <= Duration::from_secs(10) && later >= Duration::from_secs(9),
        "{later:?}"
    );
    clock.advance(Duration::from_millis(9_900));
    assert_eq!(
        retry_after(on.claim(&key, FP_A).await),
        Duration::from_secs(1)
    );
}

/// Release deletes the record for the next claim; a token that does not hold it changes nothing.
async fn release<S: IdempotencyStore>(on: &On<'_, S>) {
    let key = unique_key("release");
    let first = on.acquire(&key, FP_A).await;
    on.release(&key, &Token::random()).await;
    on.assert_in_progress(&key, FP_A).await;
    on.release(&key, &first).await;
    let second = on.acquire(&key, FP_B).await;
    assert_ne!(first, second);
    assert!(is_lease_lost(&on.complete(&key, &first).await));
    on.complete(&key, &second).await.unwrap();
}

/// Once completed, the token no longer holds the record: a late release keeps it, a second complete fails.
async fn completed_is_never_released<S: IdempotencyStore>(on: &On<'_, S>) {
    let key = unique_key("after-complete");
    let token = on.acquire(&key, FP_A).await;
    on.complete(&key, &token).await.unwrap();
    on.release(&key, &token).await;
    let other = StoredResponse::new(StatusCode::INTERNAL_SERVER_ERROR, "");
    assert!(is_lease_lost(
        &on.complete_with(&key, &token, other, RETENTION).await
    ));
    assert!(is_lease_lost(&on.extend(&key, &token, LEASE).await));
    on.assert_replays(&key, FP_A, &response()).await;
}

/// `complete` of a record that is absent, released, or held by another token is `LeaseLost`.
async fn complete_without_the_record_is_lease_lost<S: IdempotencyStore>(on: &On<'_, S>) {
    let absent = unique_key("complete-absent");
    assert!(is_lease_lost(&on.complete(&absent, &Token::random()).await));
    assert!(is_lease_lost(
        &on.extend(&absent, &Token::random(), LEASE).await
    ));
    let released = unique_key("complete-released");
    let token = on.acquire(&released, FP_A).await;
    on.release(&released, &token).await;
    assert!(is_lease_lost(&on.complete(&released, &token).await));
    let held = unique_key("complete-other-token");
    on.acquire(&held, FP_A).await;
    assert!(is_lease_lost(&on.complete(&held, &Token::random()).await));
    on.assert_in_progress(&held, FP_A).await;
}

/// A lapsed lease is taken over with a new token; the old token can then neither complete, extend nor
/// release. A lapsed record is dead whatever its payload: another payload takes it over too.
async fn lapsed_lease_taken_over<S: IdempotencyStore>(on: &On<'_, S>, clock: &TestClock) {
    let key = unique_key("takeover");
    let old = on.acquire_for(&key, FP_A, Duration::from_secs(10)).await;
    clock.advance(Duration::from_secs(5));
    on.assert_in_progress(&key, FP_A).await;
    clock.advance(Duration::from_secs(6));
    let Claim::Acquired {
        token: new,
        took_over: true,
    } = on.claim(&key, FP_A).await
    else {
        panic!("the lapsed claim of {key} was not taken over");
    };
    assert_ne!(old, new);
    assert!(is_lease_lost(&on.complete(&key, &old).await));
    assert!(is_lease_lost(&on.extend(&key, &old, LEASE).await));
    on.release(&key, &old).await;
    on.assert_in_progress(&key, FP_A).await;
    on.complete(&key, &new).await.unwrap();
    on.assert_replays(&key, FP_A, &response()).await;
}

/// After another payload took a lapsed record over, the first payload is the mismatch.
async fn mismatch_after_takeover_by_another_payload<S: IdempotencyStore>(
    on: &On<'_, S>,
    clock: &TestClock,
) {
    let key = unique_key("takeover-other-payload");
    on.acquire_for(&key, FP_A, Duration::from_secs(10)).await;
    clock.advance(Duration::from_secs(11));
    let token = on.acquire(&key, FP_B).await;
    assert_eq!(on.claim(&key, FP_A).await, Claim::Mismatch);
    on.complete(&key, &token).await.unwrap();
    assert_eq!(on.claim(&key, FP_A).await, Claim::Mismatch);
    on.assert_replays(&key, FP_B, &response()).await;
}

/// A lapsed lease that nobody took over still lets its holder complete, or release (which deletes it).
async fn lapsed_lease_not_taken_over<S: IdempotencyStore>(on: &On<'_, S>, clock: &TestClock) {
    let key = unique_key("lapsed-complete");
    let token = on.acquire_for(&key, FP_A, Duration::from_secs(10)).await;
    clock.advance(Duration::from_secs(20));
    on.complete(&key, &token).await.unwrap();
    on.assert_replays(&key, FP_A, &response()).await;

    let key = unique_key("lapsed-release");
    let token = on.acquire_for(&key, FP_A, Duration::from_secs(10)).await;
    clock.advance(Duration::from_secs(20));
    on.release(&key, &token).await;
    assert!(matches!(
        on.claim(&key, FP_B).await,
        Claim::Acquired {
            took_over: false,
            ..
        }
    ));
}

/// `extend` moves the lease deadline for the holder only, lapsed or not, until someone takes over.
async fn extend<S: IdempotencyStore>(on: &On<'_, S>, clock: &TestClock) {
    let key = unique_key("extend");
    let token = on.acquire_for(&key, FP_A, Duration::from_secs(10)).await;
    clock.advance(Duration::from_secs(8));
    on.extend(&key, &token, Duration::from_secs(10))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(8));
    on.assert_in_progress(&key, FP_A).await;
    assert!(is_lease_lost(
        &on.extend(&key, &Token::random(), LEASE).await
    ));
    // Lapsed, nobody took over: the holder may still extend.
    clock.advance(Duration::from_secs(5));
    on.extend(&key, &token, Duration::from_secs(10))
        .await
        .unwrap();
    on.assert_in_progress(&key, FP_A).await;
    clock.advance(Duration::from_secs(11));
    on.acquire(&key, FP_A).await;
    assert!(is_lease_lost(&on.extend(&key, &token, LEASE).await));
}

/// A completed record replays for its retention counted from `complete`, not from the claim.
async fn retention_counts_from_complete<S: IdempotencyStore>(on: &On<'_, S>, clock: &TestClock) {
    let key = unique_key("retention");
    let token = on.acquire(&key, FP_A).await;
    clock.advance(Duration::from_secs(25));
    on.complete_with(&key, &token, response(), Duration::from_secs(60))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(59));
    on.assert_replays(&key, FP_A, &response()).await;
    clock.advance(Duration::from_secs(2));
    assert!(matches!(
        on.claim(&key, FP_B).await,
        Claim::Acquired {
            took_over: false,
            ..
        }
    ));
}

/// `purge_expired` is bounded and never collects an in-progress record before lease + retention.
async fn purge_expired<S: IdempotencyStore>(on: &On<'_, S>, clock: &TestClock) {
    assert_eq!(on.store.purge_expired(on.clock.now(), 0).await.unwrap(), 0);
    let key = unique_key("purge-in-progress");
    let token = on.acquire_for(&key, FP_A, Duration::from_secs(10)).await;
    let done = unique_key("purge-completed");
    let done_token = on.acquire(&done, FP_A).await;
    on.complete_with(&done, &done_token, response(), Duration::from_secs(60))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(120));
    while on.store.purge_expired(on.clock.now(), 100).await.unwrap() == 100 {}
    // The completed record is over and may be gone; the lapsed claim is kept for its holder.
    assert!(matches!(
        on.claim(&done, FP_B).await,
        Claim::Acquired { .. }
    ));
    on.complete(&key, &token).await.unwrap();
    on.assert_replays(&key, FP_A, &response()).await;
}

/// A claim future dropped after its first poll took effect wholly (the key is held) or not at all.
async fn dropped_claim_takes_effect_wholly_or_not_at_all<S: IdempotencyStore>(on: &On<'_, S>) {
    for i in 0..20 {
        let key = unique_key(&format!("dropped-{i}"));
        {
            let mut claim = pin!(on.store.claim(&key, FP_A, LEASE, RETENTION, on.clock.now()));
            std::future::poll_fn(|cx| {
                let _ = claim.as_mut().poll(cx);
                Poll::Ready(())
            })
            .await;
        }
        // Give a networked backend's in-flight command time to land, if it was sent.
        tokio::time::sleep(Duration::from_millis(5)).await;
        match on.claim(&key, FP_A).await {
            Claim::Acquired { .. } | Claim::InProgress { .. } => {}
            other => panic!("after a dropped claim, {key} reads {other:?}"),
        }
    }
}

/// Two handles built independently on one backend see each other's records, as two replicas would.
async fn two_instances<S: IdempotencyStore>(on: &On<'_, S>, other: &S) {
    let there = On {
        store: other,
        clock: on.clock,
    };
    let key = unique_key("two-instances");
    let token = on.acquire(&key, FP_A).await;
    there.assert_in_progress(&key, FP_A).await;
    assert_eq!(there.claim(&key, FP_B).await, Claim::Mismatch);
    there.complete(&key, &token).await.unwrap();
    on.assert_replays(&key, FP_A, &response()).await;

    let key = unique_key("two-instances-release");
    let token = there.acquire(&key, FP_A).await;
    on.release(&key, &token).await;
    on.acquire(&key, FP_A).await;
    there.assert_in_progress(&key, FP_A).await;
}

/// Claims `key` from `n` tasks at once, each with the fingerprint `fp(i)`.
async fn race<S: IdempotencyStore + Clone>(
    store: &S,
    clock: &TestClock,
    key: &IdempotencyKey,
    n: usize,
    fp: impl Fn(usize) -> [u8; 32],
) -> Vec<([u8; 32], Claim)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let now = clock.now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (store, key, barrier, fp) =
                (store.clone(), key.clone(), Arc::clone(&barrier), fp(i));
            tokio::spawn(async move {
                barrier.wait().await;
                (fp, store.claim(&key, fp, LEASE, RETENTION, now).await)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        let (fp, claim) = task.await.expect("claim task panicked");
        out.push((fp, claim.expect("claim failed")));
    }
    out
}

fn count_acquired(claims: &[([u8; 32], Claim)]) -> usize {
    claims
        .iter()
        .filter(|(_, c)| matches!(c, Claim::Acquired { .. }))
        .count()
}

/// `n` concurrent claims of one fresh key: exactly one is acquired, every other waits.
async fn concurrent_claims<S: IdempotencyStore + Clone>(store: &S, clock: &TestClock, n: usize) {
    let key = unique_key("race");
    let claims = race(store, clock, &key, n, |_| FP_A).await;
    assert_eq!(count_acquired(&claims), 1, "{key}");
    assert!(
        claims
            .iter()
            .all(|(_, c)| matches!(c, Claim::Acquired { .. } | Claim::InProgress { .. }))
    );
}

/// `n` concurrent claims of a record whose lease lapsed: exactly one takes it over.
async fn concurrent_claims_of_a_lapsed_record<S: IdempotencyStore + Clone>(
    store: &S,
    clock: &TestClock,
    n: usize,
) {
    let key = unique_key("race-lapsed");
    let on = On { store, clock };
    on.acquire_for(&key, FP_A, Duration::from_secs(1)).await;
    clock.advance(Duration::from_secs(2));
    let claims = race(store, clock, &key, n, |_| FP_A).await;
    let took_over = claims
        .iter()
        .filter(|(_, c)| {
            matches!(
                c,
                Claim::Acquired {
                    took_over: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!((count_acquired(&claims), took_over), (1, 1), "{key}");
}

/// Concurrent claims with two payloads: one wins; its payload waits, the other payload is a mismatch.
async fn mixed_fingerprints_racing<S: IdempotencyStore + Clone>(
    store: &S,
    clock: &TestClock,
    n: usize,
) {
    let key = unique_key("race-mixed");
    let claims = race(
        store,
        clock,
        &key,
        n,
        |i| if i % 2 == 0 { FP_A } else { FP_B },
    )
    .await;
    assert_eq!(count_acquired(&claims), 1, "{key}");
    let winner = claims
        .iter()
        .find(|(_, c)| matches!(c, Claim::Acquired { .. }))
        .map(|(fp, _)| *fp)
        .expect("one acquired");
    for (fp, claim) in &claims {
        match claim {
            Claim::Acquired { .. } => {}
            Claim::InProgress { .. } => assert_eq!(*fp, winner),
            Claim::Mismatch => assert_ne!(*fp, winner),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Values that are not records — garbage, another version, cut short — read as absent under their key.
/// `put_raw` writes bytes under a key in the store's backend, bypassing the store.
pub async fn corrupt_records_read_as_absent<S, F, Fut>(store: &S, clock: &TestClock, put_raw: F)
where
    S: IdempotencyStore,
    F: Fn(IdempotencyKey, Bytes) -> Fut,
    Fut: Future<Output = ()>,
{
    let on = On { store, clock };
    let valid = Record::InProgress {
        fingerprint: FP_A,
        token: Token::random(),
        lease_until: clock.now() + LEASE,
    }
    .encode()
    .expect("encodes");
    let mut other_version = valid.to_vec();
    other_version[0] = RECORD_VERSION.wrapping_add(1);
    let mut unknown_state = valid.to_vec();
    unknown_state[1] = 0xee;
    let values = [
        Bytes::new(),
        Bytes::from_static(b"\xff\xfe\xfd"),
        Bytes::from_static(b"{\"state\":\"completed\"}"),
        Bytes::from(other_version),
        Bytes::from(unknown_state),
        valid.slice(..valid.len() - 1),
    ];
    for (i, value) in values.into_iter().enumerate() {
        let key = unique_key(&format!("corrupt-{i}"));
        put_raw(key.clone(), value).await;
        let token = match on.claim(&key, FP_A).await {
            Claim::Acquired { token, .. } => token,
            other => panic!("corrupt value {i} under {key} read as {other:?}"),
        };
        on.complete(&key, &token).await.unwrap();
        on.assert_replays(&key, FP_A, &response()).await;
    }
}

/// Sleeps through a one-second lease on the wall clock: the lapsed holder may still complete (a store
/// that lets a native TTL end the record at the lease fails here), and a lapsed lease is taken over.
pub async fn real_time<S: IdempotencyStore>(store: &S) {
    let on = On {
        store,
        clock: &SystemClock,
    };
    let lease = Duration::from_secs(1);
    let (slow, crashed) = (
        unique_key("real-time-slow"),
        unique_key("real-time-crashed"),
    );
    let slow_token = on.acquire_for(&slow, FP_A, lease).await;
    on.acquire_for(&crashed, FP_A, lease).await;
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    on.complete(&slow, &slow_token).await.unwrap();
    on.assert_replays(&slow, FP_A, &response()).await;
    assert!(matches!(
        on.claim(&crashed, FP_A).await,
        Claim::Acquired {
            took_over: true,
            ..
        }
    ));
}
