//! The default idempotency key: the event id only where the scheme signs it, otherwise the body's SHA-256,
//! so an unsigned id header can neither replay a captured request under fresh ids nor pre-claim an event.

mod common;

use common::{Calls, app, deliver, now, post_with, serve};
use hookguard::{Scheme, Signer, Verifier};
use hookguard_tower::WebhookLayer;
use hookguard_tower::store::MemoryStore;

const GITHUB_SECRET: &str = "github-webhook-secret-0123456789";

async fn github_receiver(calls: &Calls) -> std::net::SocketAddr {
    let verifier = Verifier::new(Scheme::github(), GITHUB_SECRET).unwrap();
    let layer = WebhookLayer::new(verifier).idempotency(MemoryStore::new());
    serve(app(layer, calls)).await
}

fn github(delivery: &str, body: &[u8]) -> http::HeaderMap {
    Signer::new(Scheme::github(), GITHUB_SECRET)
        .unwrap()
        .sign(delivery, now(), body)
        .unwrap()
}

#[tokio::test]
async fn a_captured_github_request_resent_under_fresh_delivery_ids_runs_the_handler_once() {
    let calls = Calls::default();
    let addr = github_receiver(&calls).await;
    let body = br#"{"action":"opened","number":7}"#;
    let captured = github("delivery-1", body);
    let first = post_with(addr, "/ok", captured.clone(), &body[..]).await;
    assert_eq!(first.status(), 201);
    for fresh in ["delivery-2", "delivery-3", "attacker-chosen"] {
        // The delivery id is not signed: anyone can change it and keep the signature.
        let mut replayed = captured.clone();
        replayed.insert("x-github-delivery", fresh.parse().unwrap());
        let res = post_with(addr, "/ok", replayed, &body[..]).await;
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()["idempotent-replayed"], "true", "{fresh}");
    }
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn a_pre_claimed_github_delivery_id_does_not_block_the_real_event() {
    let calls = Calls::default();
    let addr = github_receiver(&calls).await;
    // Someone holding an old signed request sends it under the id the next real event will carry.
    let old = br#"{"action":"closed","number":1}"#;
    let res = post_with(addr, "/ok", github("delivery-next", old), &old[..]).await;
    assert_eq!(res.status(), 201);
    let real = br#"{"action":"opened","number":2}"#;
    let res = post_with(addr, "/ok", github("delivery-next", real), &real[..]).await;
    assert_eq!(res.status(), 201, "the real event is handled, not 422");
    assert!(!res.headers().contains_key("idempotent-replayed"));
    assert_eq!(calls.get(), 2);
}

#[tokio::test]
async fn slack_requests_are_deduplicated_by_body_without_a_key_function() {
    let secret = "slack-signing-secret-0123456789";
    let verifier = Verifier::new(Scheme::slack(), secret).unwrap();
    let calls = Calls::default();
    let addr = serve(app(
        WebhookLayer::new(verifier).idempotency(MemoryStore::new()),
        &calls,
    ))
    .await;
    let slack = Signer::new(Scheme::slack(), secret).unwrap();
    let body = b"token=x&team_id=T1&event_id=Ev1";
    for replay in [false, true] {
        let res = post_with(addr, "/ok", slack.sign("", now(), body).unwrap(), &body[..]).await;
        assert_eq!(res.status(), 201, "no 400 for a scheme without an id");
        assert_eq!(res.headers().contains_key("idempotent-replayed"), replay);
    }
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn standard_webhooks_keys_by_its_signed_id() {
    let calls = Calls::default();
    let layer = WebhookLayer::new(common::verifier()).idempotency(MemoryStore::new());
    let addr = serve(app(layer, &calls)).await;
    assert_eq!(
        deliver(addr, "/ok", "msg_1", b"{\"a\":1}").await.status(),
        201
    );
    // The id is signed, so the same id with another body is the sender reusing it: 422.
    assert_eq!(
        deliver(addr, "/ok", "msg_1", b"{\"a\":2}").await.status(),
        422
    );
    assert_eq!(calls.get(), 1);
}
