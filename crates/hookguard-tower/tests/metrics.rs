//! The receiver's metrics carry the names and labels the dashboards expect.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hookguard::{Clock, Scheme, Signer, SystemClock, Verifier};
use hookguard_tower::store::MemoryStore;
use hookguard_tower::{OnStoreError, WebhookLayer};
use http_body_util::Full;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use tower::{ServiceBuilder, ServiceExt};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Counts every counter increment and histogram sample by `name{label=value,…}`.
#[derive(Debug, Default)]
struct Recorded(Mutex<BTreeMap<String, Arc<Cell>>>);

#[derive(Debug, Default)]
struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst);
    }
}

impl HistogramFn for Cell {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Recorded {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        Arc::clone(self.0.lock().unwrap().entry(name).or_default())
    }

    fn get(&self, name: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |c| c.0.load(Ordering::SeqCst))
    }
}

#[derive(Debug, Clone)]
struct Shared(Arc<Recorded>);

impl Recorder for Shared {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.0.cell(key))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.0.cell(key))
    }
}

#[tokio::test]
async fn outcomes_are_counted_under_the_contract_names() {
    let recorded = Arc::new(Recorded::default());
    metrics::set_global_recorder(Shared(Arc::clone(&recorded))).unwrap();

    let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET).unwrap();
    let service = ServiceBuilder::new()
        .layer(WebhookLayer::new(verifier).idempotency(MemoryStore::new()))
        .service_fn(|_: http::Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(
                b"ok",
            ))))
        });
    let signer = Signer::new(Scheme::standard_webhooks(), SECRET).unwrap();
    let body = b"{}";
    let request = |headers: http::HeaderMap| {
        let mut req = http::Request::post("/")
            .body(Full::new(Bytes::from_static(body)))
            .unwrap();
        req.headers_mut().extend(headers);
        req
    };
    let signed = || {
        signer
            .sign("msg_metrics", SystemClock.now_unix(), body)
            .unwrap()
    };
    assert_eq!(
        service
            .clone()
            .oneshot(request(signed()))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        service
            .clone()
            .oneshot(request(signed()))
            .await
            .unwrap()
            .status(),
        200
    );
    let mut bad = signed();
    bad.insert(
        "webhook-signature",
        "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
            .parse()
            .unwrap(),
    );
    assert_eq!(service.oneshot(request(bad)).await.unwrap().status(), 401);

    // Store down, fail-open: the handler runs and the request counts once, as `fail-open`.
    let fail_open = ServiceBuilder::new()
        .layer(
            WebhookLayer::new(common::verifier())
                .idempotency(common::DownStore)
                .on_store_error(OnStoreError::FailOpen),
        )
        .service_fn(|_: http::Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
        });
    assert_eq!(
        fail_open.oneshot(request(signed())).await.unwrap().status(),
        200
    );

    let scheme = "scheme=standard-webhooks";
    assert_eq!(
        recorded.get(&format!(
            "hookguard_webhooks_total{{{scheme},outcome=handled}}"
        )),
        1
    );
    assert_eq!(
        recorded.get(&format!(
            "hookguard_webhooks_total{{{scheme},outcome=replayed}}"
        )),
        1
    );
    assert_eq!(
        recorded.get(&format!(
            "hookguard_webhooks_total{{{scheme},outcome=fail-open}}"
        )),
        1
    );
    assert_eq!(recorded.get("hookguard_idempotency_total{result=error}"), 1);
    assert_eq!(
        recorded.get(&format!(
            "hookguard_webhooks_total{{{scheme},outcome=signature-mismatch}}"
        )),
        1
    );
    assert_eq!(
        recorded.get("hookguard_idempotency_total{result=acquired}"),
        1
    );
    assert_eq!(
        recorded.get("hookguard_idempotency_total{result=completed}"),
        1
    );
    assert_eq!(
        recorded.get("hookguard_idempotency_total{result=replayed}"),
        1
    );
    assert_eq!(recorded.get("hookguard_verify_seconds{}"), 4);
}
