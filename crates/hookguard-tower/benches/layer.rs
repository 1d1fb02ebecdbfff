//! The receive path's cost per request, in-process (no sockets), side by side in one run: a bare tower
//! service, the same service behind `WebhookLayer` verifying, and behind it with `MemoryStore` idempotency,
//! each on a fresh 1 KiB Standard Webhooks delivery (a new id every iteration, signed outside the timing);
//! plus `Verifier::verify` alone on the same requests, so that the layer's own work can be told apart from
//! the verification, and the SHA-256 fingerprint alone.
//!
//! Run with: `cargo bench -p hookguard-tower --bench layer -- --warm-up-time 1 --measurement-time 3`

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hookguard::{Clock, Scheme, Signer, SystemClock, Verifier};
use hookguard_tower::store::MemoryStore;
use hookguard_tower::{WebhookLayer, fingerprint};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn body() -> Bytes {
    Bytes::from(format!("{{\"data\":\"{}\"}}", "a".repeat(1011)))
}

/// Fresh deliveries: a new id each, signed now.
struct Deliveries {
    signer: Signer,
    body: Bytes,
    next: AtomicU64,
}

impl Deliveries {
    fn request(&self) -> http::Request<Full<Bytes>> {
        let id = format!("msg_{}", self.next.fetch_add(1, Ordering::Relaxed));
        let headers = self
            .signer
            .sign(&id, SystemClock.now_unix(), &self.body)
            .expect("sign");
        let mut req = http::Request::post("/")
            .body(Full::new(self.body.clone()))
            .expect("request");
        *req.headers_mut() = headers;
        req
    }
}

async fn handler(
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let len = req
        .into_body()
        .collect()
        .await
        .map_or(0, |b| b.to_bytes().len());
    Ok(http::Response::new(Full::new(Bytes::from(format!(
        "ok {len}"
    )))))
}

fn run<S, B>(runtime: &tokio::runtime::Runtime, service: &S, req: http::Request<Full<Bytes>>)
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>, Error = Infallible>
        + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    runtime.block_on(async {
        let res = service.clone().oneshot(req).await.expect("infallible");
        assert!(res.status().is_success(), "{}", res.status());
        black_box(res.into_body().collect().await.expect("body"));
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
    let deliveries = Deliveries {
        signer: Signer::new(Scheme::standard_webhooks(), SECRET).expect("key"),
        body: body(),
        next: AtomicU64::new(0),
    };
    let bare = tower::service_fn(handler);
    let verify = ServiceBuilder::new()
        .layer(WebhookLayer::new(verifier.clone()))
        .service_fn(handler);
    let idempotent = ServiceBuilder::new()
        .layer(WebhookLayer::new(verifier.clone()).idempotency(MemoryStore::new()))
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
