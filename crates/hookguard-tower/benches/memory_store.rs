//! `MemoryStore` alone: a claim and a complete of a fresh key (the layer's calls for a new event), with
//! the store at its bound (filled before timing, so that every new record evicts an old one, as on a busy
//! receiver) and far below it. The store's share of `idempotency-over-verify` in the layer bench, without
//! the layer's own work or the SHA-256 fingerprint around it.
//!
//! Run with: `cargo bench -p hookguard-tower --bench memory_store -- --warm-up-time 1 --measurement-time 3`

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hookguard::Timestamp;
use hookguard_tower::store::{
    Claim, IdempotencyKey, IdempotencyStore, MemoryStore, StoredResponse,
};
use http::StatusCode;

const LEASE: Duration = Duration::from_secs(60);
const RETENTION: Duration = Duration::from_secs(96 * 3600);

/// Claims and completes `n` fresh keys (numbered from `*next`); the time it took.
fn claim_and_complete(
    runtime: &tokio::runtime::Runtime,
    store: &MemoryStore,
    next: &mut u64,
    n: u64,
) -> Duration {
    let keys: Vec<IdempotencyKey> = (0..n)
        .map(|i| IdempotencyKey::from(format!("standard-webhooks:msg_{}", *next + i)))
        .collect();
    *next += n;
    let response = StoredResponse::new(StatusCode::OK, "ok 1024");
    let now = Timestamp::now();
    runtime.block_on(async {
        let started = Instant::now();
        for key in &keys {
            let Ok(Claim::Acquired { token, .. }) =
                store.claim(key, [7; 32], LEASE, RETENTION, now).await
            else {
                panic!("a fresh key is acquired");
            };
            store
                .complete(key, &token, response.clone(), RETENTION, now)
                .await
                .expect("complete");
        }
        started.elapsed()
    })
}

fn memory_store(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let at_bound = MemoryStore::new();
    let mut next = 0;
    while at_bound.stats().evictions == 0 {
        claim_and_complete(&runtime, &at_bound, &mut next, 10_000);
    }
    let below_bound = MemoryStore::with_max_bytes(8 << 30);
    let mut group = c.benchmark_group("memory-store");
    group.bench_function("claim-complete-at-bound", |b| {
        b.iter_custom(|iters| claim_and_complete(&runtime, &at_bound, &mut next, iters));
    });
    group.bench_function("claim-complete-below-bound", |b| {
        b.iter_custom(|iters| claim_and_complete(&runtime, &below_bound, &mut next, iters));
    });
    group.finish();
}

criterion_group!(benches, memory_store);
criterion_main!(benches);
