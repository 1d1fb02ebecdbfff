//! While a handler runs, its claim is extended every lease/3, so a redelivery waits (409) instead of taking
//! over; past `max_hold` a hung handler's claim lapses and a redelivery runs it again. Paused tokio time
//! drives both the timers and the clock the layer and the store read.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hookguard::{Clock, Timestamp};
use hookguard_tower::store::{IdempotencyKey, MemoryStore};
use hookguard_tower::{Idempotency, RunOutcome, WebhookLayer, fingerprint};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};

const BODY: &[u8] = br#"{"type":"report.generated"}"#;
const LEASE: Duration = Duration::from_secs(30);

/// Wall-clock time that moves with tokio's (paused) clock.
#[derive(Clone, Debug)]
struct TokioClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    fn new() -> Self {
        Self {
            base: Timestamp::now(),
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.base + self.start.elapsed()
    }
}

/// A service behind the layer whose first call takes `first_takes`; it counts its calls.
fn service(
    layer: WebhookLayer,
    calls: &Arc<AtomicUsize>,
    first_takes: Duration,
) -> impl Service<
    http::Request<Full<Bytes>>,
    Response = http::Response<hookguard_tower::ResponseBody<Full<Bytes>>>,
    Error = Infallible,
    Future: Send,
> + Clone
+ Send
+ 'static {
    let calls = Arc::clone(calls);
    ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |_req: http::Request<Full<Bytes>>| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    tokio::time::sleep(first_takes).await;
                }
                Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"done"))))
            }
        })
}

fn request(clock: &TokioClock) -> http::Request<Full<Bytes>> {
    let headers = common::signer()
        .sign("msg_slow", clock.now_unix(), BODY)
        .unwrap();
    let mut req = http::Request::post("/")
        .body(Full::new(Bytes::from_static(BODY)))
        .unwrap();
    req.headers_mut().extend(headers);
    req
}

async fn status_and_replayed<S>(svc: S, req: http::Request<Full<Bytes>>) -> (u16, bool)
where
    S: Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<hookguard_tower::ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        >,
{
    let res = svc.oneshot(req).await.unwrap();
    let replayed = res.headers().contains_key("idempotent-replayed");
    let status = res.status().as_u16();
    res.into_body().collect().await.unwrap();
    (status, replayed)
}

#[tokio::test(start_paused = true)]
async fn a_handler_slower_than_its_lease_keeps_its_claim() {
    let clock = TokioClock::new();
    let layer = WebhookLayer::new(common::verifier().with_clock(clock.clone()))
        .idempotency(MemoryStore::new())
        .lease(LEASE);
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = service(layer, &calls, Duration::from_secs(100));
    let first = tokio::spawn(status_and_replayed(svc.clone(), request(&clock)));
    // Well past the 30 s lease: without the heartbeat the redelivery would take over.
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert_eq!(
        status_and_replayed(svc.clone(), request(&clock)).await,
        (409, false)
    );
    assert_eq!(first.await.unwrap(), (200, false));
    assert_eq!(status_and_replayed(svc, request(&clock)).await, (200, true));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hung_handler_lets_its_claim_lapse_after_max_hold() {
    let clock = TokioClock::new();
    let layer = WebhookLayer::new(common::verifier().with_clock(clock.clone()))
        .idempotency(MemoryStore::new())
        .lease(LEASE)
        .max_hold(Duration::from_secs(60));
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = service(layer, &calls, Duration::from_secs(3600));
    let hung = tokio::spawn(status_and_replayed(svc.clone(), request(&clock)));
    tokio::time::sleep(Duration::from_secs(45)).await;
    assert_eq!(
        status_and_replayed(svc.clone(), request(&clock)).await,
        (409, false)
    );
    // Past max_hold (60 s) and the last extension's lease: the claim lapsed, the redelivery runs.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        status_and_replayed(svc, request(&clock)).await,
        (200, false)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    hung.abort();
}

#[tokio::test(start_paused = true)]
async fn idempotency_run_extends_the_claim_too() {
    let clock = TokioClock::new();
    let idem = Idempotency::new(MemoryStore::new())
        .lease(LEASE)
        .with_clock(clock.clone());
    let (key, fp): (IdempotencyKey, _) = ("github:slow".into(), fingerprint(BODY));
    let runs = Arc::new(AtomicUsize::new(0));
    let slow = {
        let (idem, key, runs) = (idem.clone(), key.clone(), Arc::clone(&runs));
        tokio::spawn(async move {
            idem.run(&key, fp, || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(100)).await;
                http::Response::new(Bytes::from_static(b"done"))
            })
            .await
            .map(|outcome| matches!(outcome, RunOutcome::Fresh(_)))
        })
    };
    tokio::time::sleep(Duration::from_secs(70)).await;
    let busy = idem
        .run(&key, fp, || async { unreachable!("the claim is held") })
        .await
        .unwrap();
    assert!(matches!(busy, RunOutcome::InProgress { .. }), "{busy:?}");
    assert!(slow.await.unwrap().unwrap());
    let replay = idem
        .run(&key, fp, || async { unreachable!("completed") })
        .await
        .unwrap();
    assert!(matches!(replay, RunOutcome::Replayed(_)), "{replay:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
