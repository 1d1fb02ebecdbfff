//! The receive path's cost per request, in-process (no sockets), side by side in one run: a bare tower
//! service, the same service behind `WebhookLayer` verifying, and behind it with `MemoryStore` idempotency,
//! each on a fresh 1 KiB Standard Webhooks delivery (a new id every iteration, signed outside the timing);
//! what the layer adds to the bare service and what idempotency adds to verifying, each timed in
//! alternating blocks (the `*-over-*` benchmarks report the difference itself); plus `Verifier::verify`
//! alone on the same requests, so that the layer's own work can be told apart from the verification, and
//! the SHA-256 fingerprint alone. `layer-over-verifying-handler` times that own work directly: the layer
//! verifying against the bare handler that verifies the delivery itself, in alternating blocks.
//!
//! Run with: `cargo bench -p hookguard-tower --bench layer -- --warm-up-time 1 --measurement-time 3`

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hookguard::{Clock, Scheme, SystemClock, Verifier};
use hookguard_tower::store::{Claim, IdempotencyStore, MemoryStore, StoredResponse};
use hookguard_tower::{WebhookLayer, fingerprint};
use http_body_util::Full;
use tower::{Service, ServiceBuilder};

#[path = "support/receive.rs"]
mod receive;
use receive::{Deliveries, SECRET, handler, run, verifying_handler};

/// How much longer `b` takes than `a` for `iters` fresh deliveries each, run in alternating blocks (in
/// alternating order) so that the machine's drift hits both alike: criterion runs its benchmarks one after
/// the other, and on a shared machine two runs seconds apart can differ by more than the difference sought.
fn difference<A, B, BodyA, BodyB>(
    runtime: &tokio::runtime::Runtime,
    deliveries: &Deliveries,
    (a, b): (&A, &B),
    iters: u64,
) -> Duration
where
    A: Service<http::Request<Full<Bytes>>, Response = http::Response<BodyA>, Error = Infallible>
        + Clone,
    B: Service<http::Request<Full<Bytes>>, Response = http::Response<BodyB>, Error = Infallible>
        + Clone,
    BodyA: http_body::Body<Data = Bytes>,
    BodyA::Error: std::fmt::Debug,
    BodyB: http_body::Body<Data = Bytes>,
    BodyB::Error: std::fmt::Debug,
{
    const BLOCK: u64 = 64;
    let (mut time_a, mut time_b) = (Duration::ZERO, Duration::ZERO);
    let mut done = 0;
    while done < iters {
        let n = BLOCK.min(iters - done);
        let for_a: Vec<_> = (0..n).map(|_| deliveries.request()).collect();
        let for_b: Vec<_> = (0..n).map(|_| deliveries.request()).collect();
        let timed_a = |reqs: Vec<_>| {
            let started = Instant::now();
            reqs.into_iter().for_each(|req| run(runtime, a, req));
            started.elapsed()
        };
        let timed_b = |reqs: Vec<_>| {
            let started = Instant::now();
            reqs.into_iter().for_each(|req| run(runtime, b, req));
            started.elapsed()
        };
        if (done / BLOCK).is_multiple_of(2) {
            time_a += timed_a(for_a);
            time_b += timed_b(for_b);
        } else {
            time_b += timed_b(for_b);
            time_a += timed_a(for_a);
        }
        done += n;
    }
    // Criterion refuses a zero time. A sample of few iterations can come out with `b` faster than `a`
    // by noise; counting it as 1 ns rounds the estimate up, never down.
    time_b.saturating_sub(time_a).max(Duration::from_nanos(1))
}

/// Fills `store` to its bound with records like the handler's (a short answer to a 1 KiB event).
fn fill(runtime: &tokio::runtime::Runtime, store: &MemoryStore) {
    let (lease, retention) = (Duration::from_secs(60), Duration::from_secs(96 * 3600));
    let response = StoredResponse::new(http::StatusCode::OK, "ok 1024");
    let now = SystemClock.now();
    runtime.block_on(async {
        for i in 0.. {
            if store.stats().evictions > 0 {
                break;
            }
            let key = format!("standard-webhooks:fill_{i}").into();
            let Ok(Claim::Acquired { token, .. }) =
                store.claim(&key, [7; 32], lease, retention, now).await
            else {
                panic!("a fresh key is acquired");
            };
            store
                .complete(&key, &token, response.clone(), retention, now)
                .await
                .expect("complete");
        }
    });
}

fn receive_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET)
        .expect("key")
        .tolerance(Duration::from_secs(3600));
    let deliveries = Deliveries::new();
    let bare = tower::service_fn(handler);
    let verifying = {
        let verifier = verifier.clone();
        tower::service_fn(move |req| verifying_handler(verifier.clone(), req))
    };
    let verify = ServiceBuilder::new()
        .layer(WebhookLayer::new(verifier.clone()))
        .service_fn(handler);
    let full = MemoryStore::new();
    fill(&runtime, &full);
    let idempotent = ServiceBuilder::new()
        .layer(WebhookLayer::new(verifier.clone()).idempotency(full))
        .service_fn(handler);
    // The default store is filled to its 64 MiB before timing, so that it evicts about one record per new
    // one, as a busy receiver's does; this one never fills in a run, as a receiver's below its bound.
    let below_bound = ServiceBuilder::new()
        .layer(
            WebhookLayer::new(verifier.clone()).idempotency(MemoryStore::with_max_bytes(8 << 30)),
        )
        .service_fn(handler);
    let mut group = c.benchmark_group("receive-1024");
    group.bench_function("bare", |b| {
        b.iter_batched(
            || deliveries.request(),
            |req| run(&runtime, &bare, req),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("verify", |b| {
        b.iter_batched(
            || deliveries.request(),
            |req| run(&runtime, &verify, req),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("idempotent", |b| {
        b.iter_batched(
            || deliveries.request(),
            |req| run(&runtime, &idempotent, req),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("layer-over-bare", |b| {
        b.iter_custom(|iters| difference(&runtime, &deliveries, (&bare, &verify), iters));
    });
    group.bench_function("layer-over-verifying-handler", |b| {
        b.iter_custom(|iters| difference(&runtime, &deliveries, (&verifying, &verify), iters));
    });
    group.bench_function("idempotency-over-verify", |b| {
        b.iter_custom(|iters| difference(&runtime, &deliveries, (&verify, &idempotent), iters));
    });
    group.bench_function("idempotency-over-verify-below-bound", |b| {
        b.iter_custom(|iters| difference(&runtime, &deliveries, (&verify, &below_bound), iters));
    });
    group.bench_function("verifier-alone", |b| {
        b.iter_batched(
            || deliveries.request(),
            |req| black_box(verifier.verify(req.headers(), &deliveries.body).is_ok()),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("fingerprint-alone", |b| {
        b.iter(|| black_box(fingerprint(black_box(&deliveries.body))));
    });
    group.finish();
}

criterion_group!(benches, receive_path);
criterion_main!(benches);
