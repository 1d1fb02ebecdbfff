//! A handler slower than its lease: another delivery takes the claim over, the slow one's `complete` fails
//! with `LeaseLost`, and its response is still returned. Also: responses longer than the replay limit.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use common::{deliver, serve};
use hookguard::{Clock, TestClock, Timestamp};
use hookguard_tower::WebhookLayer;
use hookguard_tower::store::{Claim, IdempotencyStore, MemoryStore};

const BODY: &[u8] = br#"{"type":"slow.event"}"#;

#[tokio::test]
async fn lease_lost_on_complete_still_returns_the_handlers_response() {
    // One clock for the verifier, the layer and the store, started at the wall clock's time so that the
    // signatures made now verify.
    let clock = TestClock::new(Timestamp::now());
    let store = MemoryStore::new();
    let (s, c) = (store.clone(), clock.clone());
    // The handler outlives its 10 s lease, during which another delivery takes the record over.
    let handler = post(
        move |axum::Extension(v): axum::Extension<hookguard::Verified<'static>>| {
            let (store, clock) = (s.clone(), c.clone());
            async move {
                clock.advance(Duration::from_secs(11));
                let key = format!("{}:{}", v.scheme(), v.id().unwrap()).into();
                let claim = store
                    .claim(
                        &key,
                        hookguard_tower::fingerprint(BODY),
                        Duration::from_secs(60),
                        Duration::from_secs(3600),
                        clock.now(),
                    )
                    .await;
                assert!(
                    matches!(
                        claim,
                        Ok(Claim::Acquired {
                            took_over: true,
                            ..
                        })
                    ),
                    "{claim:?}"
                );
                "slow but done"
            }
        },
    );
    let layer = WebhookLayer::new(common::verifier().with_clock(clock))
        .idempotency(store)
        .lease(Duration::from_secs(10));
    let addr = serve(Router::new().route("/", handler).layer(layer)).await;

    let res = deliver(addr, "/", "msg_lease", BODY).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "slow but done");
    // The record belongs to the delivery that took it over, which has not completed.
    assert_eq!(deliver(addr, "/", "msg_lease", BODY).await.status(), 409);
}

#[tokio::test]
async fn a_response_over_the_replay_limit_is_returned_whole_and_replayed_without_body() {
    let big = "x".repeat(100);
    let body = big.clone();
    let router = Router::new().route(
        "/",
        post(move || async move { (http::StatusCode::ACCEPTED, body) }),
    );
    let layer = WebhookLayer::new(common::verifier())
        .idempotency(MemoryStore::new())
        .replay_limit(10);
    let addr = serve(router.layer(layer)).await;
    let first = deliver(addr, "/", "msg_big_response", BODY).await;
    assert_eq!(first.status(), 202);
    assert_eq!(first.text().await.unwrap(), big);
    let replay = deliver(addr, "/", "msg_big_response", BODY).await;
    assert_eq!(replay.status(), 202);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.text().await.unwrap(), "");
}
