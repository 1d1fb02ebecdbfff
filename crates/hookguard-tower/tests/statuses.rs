//! Every status the layer answers with, over real HTTP against an axum server.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Calls, DownStore, app, deliver, now, post_with, problem, serve, signed, signer};
use hookguard::{Scheme, Signer, Verifier};
use hookguard_tower::store::{IdempotencyKey, MemoryStore};
use hookguard_tower::{OnStoreError, Rejection, WebhookLayer};

const BODY: &[u8] = br#"{"type":"invoice.paid","amount":42}"#;

fn layer() -> WebhookLayer {
    WebhookLayer::new(common::verifier()).idempotency(MemoryStore::new())
}

#[tokio::test]
async fn valid_delivery_reaches_the_handler_with_verified() {
    let calls = Calls::default();
    let addr = serve(app(layer(), &calls)).await;
    let res = deliver(addr, "/ok", "msg_valid", BODY).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_eq!(res.text().await.unwrap(), r#"{"id":"msg_valid","call":1}"#);
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn verification_failures_are_400_or_401_problems() {
    let calls = Calls::default();
    let addr = serve(app(layer(), &calls)).await;

    let res = post_with(addr, "/ok", http::HeaderMap::new(), BODY).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["type"],
        "https://hookguard.dev/problems/missing-header"
    );

    let mut garbage = signed("msg_1", BODY);
    garbage.insert("webhook-signature", "not a signature".parse().unwrap());
    let res = post_with(addr, "/ok", garbage, BODY).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["type"],
        "https://hookguard.dev/problems/malformed-header"
    );

    let wrong_key = Signer::new(
        Scheme::standard_webhooks(),
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .unwrap();
    let res = post_with(
        addr,
        "/ok",
        wrong_key.sign("msg_1", now(), BODY).unwrap(),
        BODY,
    )
    .await;
    assert_eq!(res.status(), 401);
    let p = problem(res).await;
    assert_eq!(
        p["type"],
        "https://hookguard.dev/problems/signature-mismatch"
    );
    assert!(
        !p.to_string().contains("v1,"),
        "a rejection never shows a signature: {p}"
    );

    let tampered = post_with(
        addr,
        "/ok",
        signed("msg_1", BODY),
        &b"{\"type\":\"invoice.paid\",\"amount\":43}"[..],
    )
    .await;
    assert_eq!(tampered.status(), 401);

    let stale = post_with(
        addr,
        "/ok",
        signer().sign("msg_1", now() - 3600, BODY).unwrap(),
        BODY,
    )
    .await;
    assert_eq!(stale.status(), 401);
    assert_eq!(
        problem(stale).await["type"],
        "https://hookguard.dev/problems/timestamp-too-old"
    );

    let future = post_with(
        addr,
        "/ok",
        signer().sign("msg_1", now() + 3600, BODY).unwrap(),
        BODY,
    )
    .await;
    assert_eq!(future.status(), 401);
    assert_eq!(
        problem(future).await["type"],
        "https://hookguard.dev/problems/timestamp-too-new"
    );

    assert_eq!(calls.get(), 0, "no rejected request reaches the handler");
}

#[tokio::test]
async fn redelivery_replays_the_stored_response() {
    let calls = Calls::default();
    let addr = serve(app(layer(), &calls)).await;
    let first = deliver(addr, "/ok", "msg_replay", BODY).await;
    assert_eq!(first.status(), 201);
    let first_body = first.text().await.unwrap();
    for _ in 0..3 {
        let again = deliver(addr, "/ok", "msg_replay", BODY).await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["content-type"], "application/json");
        assert!(
            again.headers().get("x-not-replayed").is_none(),
            "only selected headers are replayed"
        );
        assert_eq!(again.text().await.unwrap(), first_body);
    }
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn same_id_with_another_payload_is_422() {
    let calls = Calls::default();
    let addr = serve(app(layer(), &calls)).await;
    assert_eq!(deliver(addr, "/ok", "msg_reused", BODY).await.status(), 201);
    let res = deliver(addr, "/ok", "msg_reused", b"{\"other\":true}").await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        problem(res).await["type"],
        "https://hookguard.dev/problems/idempotency-key-reused"
    );
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn delivery_in_progress_is_409_with_retry_after_and_mismatch_wins_over_it() {
    let calls = Calls::default();
    let addr = serve(app(layer().lease(Duration::from_secs(30)), &calls)).await;
    let first = tokio::spawn(deliver(addr, "/slow", "msg_slow", BODY));
    while calls.get() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let res = deliver(addr, "/slow", "msg_slow", BODY).await;
    assert_eq!(res.status(), 409);
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(
        problem(res).await["type"],
        "https://hookguard.dev/problems/in-progress"
    );
    // Another payload under the held key is a mismatch, not "in progress".
    assert_eq!(
        deliver(addr, "/slow", "msg_slow", b"{}").await.status(),
        422
    );
    assert_eq!(first.await.unwrap().status(), 200);
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn store_down_fails_closed_with_503_or_open_to_the_handler() {
    let calls = Calls::default();
    let closed = serve(app(
        WebhookLayer::new(common::verifier()).idempotency(DownStore),
        &calls,
    ))
    .await;
    let res = deliver(closed, "/ok", "msg_down", BODY).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(
        problem(res).await["type"],
        "https://hookguard.dev/problems/store-unavailable"
    );
    assert_eq!(calls.get(), 0);

    let open_layer = WebhookLayer::new(common::verifier())
        .idempotency(DownStore)
        .on_store_error(OnStoreError::FailOpen);
    let open = serve(app(open_layer, &calls)).await;
    assert_eq!(deliver(open, "/ok", "msg_down", BODY).await.status(), 201);
    assert_eq!(deliver(open, "/ok", "msg_down", BODY).await.status(), 201);
    assert_eq!(
        calls.get(),
        2,
        "fail-open runs the handler without deduplication"
    );
}

#[tokio::test]
async fn no_key_is_400_unless_passed_through_and_key_function_can_reject() {
    let calls = Calls::default();
    let no_key = layer().key(|_, _, _| Ok(None));
    let addr = serve(app(no_key.clone(), &calls)).await;
    let res = deliver(addr, "/ok", "msg_nokey", BODY).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["type"],
        "https://hookguard.dev/problems/missing-idempotency-key"
    );

    let addr = serve(app(no_key.pass_through_without_key(), &calls)).await;
    assert_eq!(deliver(addr, "/ok", "msg_nokey", BODY).await.status(), 201);
    assert_eq!(deliver(addr, "/ok", "msg_nokey", BODY).await.status(), 201);
    assert_eq!(calls.get(), 2);

    let refusing =
        layer().key(|_, _, _| Err(Rejection::InvalidPayload("the body has no \"id\"".into())));
    let addr = serve(app(refusing, &calls)).await;
    let res = deliver(addr, "/ok", "msg_nokey", BODY).await;
    assert_eq!(res.status(), 400);
    assert_eq!(problem(res).await["detail"], "the body has no \"id\"");
}

#[tokio::test]
async fn stripe_events_are_deduplicated_by_the_id_in_the_body() {
    let secret = "whsec_stripe_test_secret_0123456789";
    let verifier = Verifier::new(Scheme::stripe(), secret).unwrap();
    let layer = WebhookLayer::new(verifier)
        .idempotency(MemoryStore::new())
        .key(|v, _, body: &Bytes| {
            let json: serde_json::Value = serde_json::from_slice(body)
                .map_err(|_| Rejection::InvalidPayload("body is not JSON".into()))?;
            Ok(json["id"]
                .as_str()
                .map(|id| IdempotencyKey::new(format!("{}:{id}", v.scheme()))))
        });
    let calls = Calls::default();
    let addr = serve(app(layer, &calls)).await;
    let stripe = Signer::new(Scheme::stripe(), secret).unwrap();
    let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    for expected_replay in [false, true] {
        // Each Stripe retry carries a new timestamp, hence a new signature: the key still matches.
        let ts = now() - i64::from(expected_replay);
        let res = post_with(addr, "/ok", stripe.sign("", ts, body).unwrap(), &body[..]).await;
        assert_eq!(res.status(), 201);
        assert_eq!(
            res.headers().contains_key("idempotent-replayed"),
            expected_replay
        );
    }
    assert_eq!(calls.get(), 1);
    let res = post_with(
        addr,
        "/ok",
        stripe.sign("", now(), b"[]").unwrap(),
        &b"[]"[..],
    )
    .await;
    assert_eq!(res.status(), 400, "no id in the body, no key");
}

#[tokio::test]
async fn a_custom_rejection_replaces_the_body_and_keeps_the_reason() {
    let custom = layer().rejection(|r| {
        let mut res = http::Response::new(Bytes::from(format!("nope: {}", r.kind())));
        *res.status_mut() = r.status();
        res
    });
    let calls = Calls::default();
    let addr = serve(app(custom.clone(), &calls)).await;
    let res = post_with(addr, "/ok", http::HeaderMap::new(), BODY).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.text().await.unwrap(), "nope: missing-header");

    // The reason travels in the response's extensions, for outer layers.
    use tower::ServiceExt;
    let svc = app(custom.clone(), &calls);
    let req = http::Request::post("/ok")
        .body(axum::body::Body::from(BODY))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(
        res.extensions().get::<Rejection>().map(Rejection::kind),
        Some("missing-header")
    );

    // A rejection that asks the sender to come back keeps its Retry-After under a custom body.
    let addr = serve(app(custom.idempotency(DownStore), &calls)).await;
    let res = deliver(addr, "/ok", "msg_custom_down", BODY).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.text().await.unwrap(), "nope: store-unavailable");
}

#[tokio::test]
async fn done_predicate_decides_what_is_replayed() {
    let calls = Calls::default();
    let addr = serve(app(layer(), &calls)).await;
    // 404 is done by default: replayed, handler not run again.
    assert_eq!(
        deliver(addr, "/status/404", "msg_404", BODY).await.status(),
        404
    );
    let again = deliver(addr, "/status/404", "msg_404", BODY).await;
    assert_eq!(
        (
            again.status().as_u16(),
            again.headers().contains_key("idempotent-replayed")
        ),
        (404, true)
    );
    // 429 is not: released, the retry runs the handler again.
    assert_eq!(
        deliver(addr, "/status/429", "msg_429", BODY).await.status(),
        429
    );
    assert_eq!(
        deliver(addr, "/status/429", "msg_429", BODY).await.status(),
        429
    );
    assert_eq!(calls.get(), 3);

    let strict = serve(app(layer().done(|s| s.is_success()), &calls)).await;
    assert_eq!(
        deliver(strict, "/status/404", "msg_404", BODY)
            .await
            .status(),
        404
    );
    let again = deliver(strict, "/status/404", "msg_404", BODY).await;
    assert!(!again.headers().contains_key("idempotent-replayed"));
    assert_eq!(calls.get(), 5);
}
