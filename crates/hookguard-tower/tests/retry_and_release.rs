//! A claim that did not end in a "done" response is released: a failing handler runs again on the retry,
//! and so does one whose client went away mid-handler. One that did is stored even if the client went away
//! while its response was being stored.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Calls, app, client_builder, deliver, serve, signed};
use hookguard::Timestamp;
use hookguard_tower::store::{
    Claim, IdempotencyKey, IdempotencyStore, MemoryStore, StoreError, StoredResponse, Token,
};
use hookguard_tower::{Idempotency, RunOutcome, WebhookLayer, fingerprint};

const BODY: &[u8] = br#"{"type":"invoice.failed"}"#;

fn layer() -> WebhookLayer {
    WebhookLayer::new(common::verifier()).idempotency(MemoryStore::new())
}

#[tokio::test]
async fn a_failing_handler_runs_again_on_the_retry() {
    let calls = Calls::default();
    let addr = serve(app(layer(), &calls)).await;
    assert_eq!(
        deliver(addr, "/fail-once", "msg_retry", BODY)
            .await
            .status(),
        500
    );
    let retry = deliver(addr, "/fail-once", "msg_retry", BODY).await;
    assert_eq!(retry.status(), 200);
    assert!(!retry.headers().contains_key("idempotent-replayed"));
    assert_eq!(calls.get(), 2);
    // Now done: the third delivery is a replay.
    let third = deliver(addr, "/fail-once", "msg_retry", BODY).await;
    assert_eq!(third.headers()["idempotent-replayed"], "true");
    assert_eq!(calls.get(), 2);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_handler_releases_the_claim() {
    let calls = Calls::default();
    // A long lease: only the release, not the lease running out, can let the next delivery in.
    let addr = serve(app(layer().lease(Duration::from_secs(600)), &calls)).await;
    let client = client_builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let gone = client
        .post(format!("http://{addr}/hang-once"))
        .headers(signed("msg_gone", BODY))
        .body(BODY)
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()));
    assert_eq!(calls.get(), 1);

    // The server notices the closed connection, drops the request and releases the claim in the background.
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let res = deliver(addr, "/hang-once", "msg_gone", BODY).await;
        statuses.push(res.status().as_u16());
        if res.status() == 200 {
            break;
        }
        assert_eq!(
            res.status(),
            409,
            "only 'in progress' until the release lands"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert_eq!(calls.get(), 2);
}

#[tokio::test]
async fn idempotency_run_releases_when_dropped_mid_handler() {
    let store = MemoryStore::new();
    let idem = Idempotency::new(store.clone());
    let key = "github:delivery-1".into();
    let fp = fingerprint(BODY);
    let abandoned = tokio::time::timeout(
        Duration::from_millis(50),
        idem.run(&key, fp, || async {
            std::future::pending::<()>().await;
            http::Response::new(Bytes::new())
        }),
    )
    .await;
    assert!(abandoned.is_err());
    // The release runs on a spawned task: give it a turn.
    for _ in 0..100 {
        if store.stats().records == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(store.stats().records == 0);
    let ran = idem
        .run(&key, fp, || async {
            http::Response::new(Bytes::from_static(b"ok"))
        })
        .await
        .unwrap();
    assert!(matches!(ran, RunOutcome::Fresh(ref r) if r.body() == "ok"));
}

/// What `run` answers for an event whose response is stored: the handler must not run.
async fn replayed(
    idem: &Idempotency<MemoryStore>,
    key: &IdempotencyKey,
    fp: [u8; 32],
) -> http::Response<Bytes> {
    idem.run(key, fp, || async { unreachable!("replayed") })
        .await
        .unwrap()
        .into_http_response()
}

#[tokio::test]
async fn idempotency_run_stores_done_releases_failed_and_reports_conflicts() {
    let idem = Idempotency::new(MemoryStore::new()).lease(Duration::from_secs(60));
    let key = "standard-webhooks:msg_run".into();
    let fp = fingerprint(BODY);
    let failed = idem
        .run(&key, fp, || async {
            let mut res = http::Response::new(Bytes::from_static(b"boom"));
            *res.status_mut() = http::StatusCode::BAD_GATEWAY;
            res
        })
        .await
        .unwrap();
    assert_eq!(failed.into_http_response().status(), 502);

    let Claim::Acquired { token, .. } = idem.claim(&key, fp).await.unwrap() else {
        panic!("released, so free")
    };
    let busy = idem
        .run(&key, fp, || async { unreachable!("in progress") })
        .await
        .unwrap();
    let res = busy.into_http_response();
    assert_eq!(
        (
            res.status().as_u16(),
            res.headers()["retry-after"].to_str().unwrap()
        ),
        (409, "60")
    );
    let other = idem
        .run(&key, fingerprint(b"other"), || async {
            unreachable!("mismatch")
        })
        .await
        .unwrap();
    assert_eq!(other.into_http_response().status(), 422);
    idem.release(&key, &token).await.unwrap();

    let first = idem
        .run(&key, fp, || async {
            http::Response::new(Bytes::from_static(b"done"))
        })
        .await
        .unwrap();
    assert!(matches!(first, RunOutcome::Fresh(_)));
    let replay = replayed(&idem, &key, fp).await;
    assert_eq!(
        (replay.status().as_u16(), replay.body().as_ref()),
        (200, &b"done"[..])
    );
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn idempotency_run_replays_a_body_over_the_limit_without_it() {
    let idem = Idempotency::new(MemoryStore::new()).replay_limit(4);
    let key = "standard-webhooks:msg_big".into();
    let fp = fingerprint(BODY);
    let big = || async {
        let mut res = http::Response::new(Bytes::from_static(b"too long"));
        *res.status_mut() = http::StatusCode::ACCEPTED;
        res
    };
    let first = idem.run(&key, fp, big).await.unwrap().into_http_response();
    assert_eq!(
        first.body().as_ref(),
        b"too long",
        "the live answer is whole"
    );
    let replay = replayed(&idem, &key, fp).await;
    assert_eq!(
        (replay.status().as_u16(), replay.body().len()),
        (202, 0),
        "the status is kept, the body over the limit is not"
    );
}

/// A store on a slow network: its claims land at once but take `claim` to answer; its completions take
/// `complete` to arrive (a completion dropped on the way does not land).
#[derive(Debug, Clone)]
struct Slow {
    store: MemoryStore,
    claim: Duration,
    complete: Duration,
}

impl IdempotencyStore for Slow {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        fp: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        let claim = self.store.claim(key, fp, lease, retention, now).await;
        tokio::time::sleep(self.claim).await;
        claim
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        tokio::time::sleep(self.complete).await;
        self.store
            .complete(key, token, response, retention, now)
            .await
    }

    async fn extend(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        lease: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.store.extend(key, token, lease, now).await
    }

    async fn release(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.store.release(key, token, now).await
    }

    async fn purge_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        self.store.purge_expired(now, limit).await
    }
}

#[tokio::test]
async fn a_request_dropped_while_claiming_releases_the_claim_once_it_lands() {
    let calls = Calls::default();
    let memory = MemoryStore::new();
    let layer = layer()
        .idempotency(Slow {
            store: memory.clone(),
            claim: Duration::from_millis(100),
            complete: Duration::ZERO,
        })
        .lease(Duration::from_secs(600));
    let addr = serve(app(layer, &calls)).await;
    let client = client_builder()
        .timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    let gone = client
        .post(format!("http://{addr}/ok"))
        .headers(signed("msg_claiming", BODY))
        .body(BODY)
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()));
    // The claim landed at once; its answer arrives after 100 ms, and the claim is then released.
    assert_eq!(memory.stats().records, 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        memory.stats().records == 0,
        "the abandoned claim was released"
    );
    assert_eq!(
        deliver(addr, "/ok", "msg_claiming", BODY).await.status(),
        201
    );
    assert_eq!(
        calls.get(),
        1,
        "only the second delivery reached the handler"
    );
}

#[tokio::test]
async fn a_request_dropped_while_its_response_is_stored_is_still_completed() {
    let calls = Calls::default();
    let memory = MemoryStore::new();
    let layer = layer()
        .idempotency(Slow {
            store: memory.clone(),
            claim: Duration::ZERO,
            complete: Duration::from_millis(100),
        })
        .lease(Duration::from_secs(600));
    let addr = serve(app(layer, &calls)).await;
    let client = client_builder()
        .timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    // The handler answers at once; storing its response takes 100 ms, and the client gives up before.
    let gone = client
        .post(format!("http://{addr}/ok"))
        .headers(signed("msg_storing", BODY))
        .body(BODY)
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()));
    assert_eq!(calls.get(), 1);
    // The handler's effect happened: the response is stored in the background, never released for the
    // retry to run the handler a second time.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let retry = deliver(addr, "/ok", "msg_storing", BODY).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(calls.get(), 1, "the handler ran once");
}
