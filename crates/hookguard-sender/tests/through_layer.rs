//! The sender against a receiver behind `hookguard_tower::WebhookLayer`: signatures verify in the layer, a
//! failed handler run is retried under the same event id, a duplicate is answered from the idempotency store,
//! and a delivery signed with the wrong key is a permanent 401.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use common::*;
use hookguard_sender::{DeadLetterReason, Endpoint, Event, JobState};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::VerifiedWebhook;
use hookguard_tower::store::MemoryStore;

#[tokio::test]
async fn deliveries_through_the_webhook_layer() {
    let clock = test_clock();
    let calls = Arc::new(AtomicUsize::new(0));
    let handler_calls = Arc::clone(&calls);
    let app = Router::new()
        .route(
            "/hooks",
            post(move |VerifiedWebhook(v): VerifiedWebhook| {
                let calls = Arc::clone(&handler_calls);
                async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    // The first run fails: the layer releases the claim so the sender's retry runs it again.
                    let status = if n == 1 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    };
                    (
                        status,
                        format!("run {n} for {}", v.id().unwrap_or_default()),
                    )
                }
            }),
        )
        .layer(WebhookLayer::new(verifier(&clock)).idempotency(MemoryStore::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let sender = builder(&clock)
        .endpoint(endpoint("primary", &url))
        // The same receiver under a second id: a duplicate delivery of the same event id.
        .endpoint(endpoint("duplicate", &url))
        .endpoint(Endpoint::new("wrong-key", &url, KEY2).with_timeout(Duration::from_secs(2)))
        .build()
        .unwrap();

    let first = sender
        .send(
            "primary",
            Event::new("t", r#"{"a":1}"#).with_id("evt_layer"),
        )
        .await
        .unwrap();
    sender.process_due(1).await.unwrap();
    assert_eq!(
        record(&sender, first).await.attempts[0].result.status(),
        Some(500)
    );
    clock.advance(Duration::from_secs(5));
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, first).await;
    assert!(matches!(rec.state, JobState::Delivered { .. }));
    assert_eq!(
        rec.attempts[1].response_body, "run 2 for evt_layer",
        "the retry ran the handler again"
    );

    let dup = sender
        .send(
            "duplicate",
            Event::new("t", r#"{"a":1}"#).with_id("evt_layer"),
        )
        .await
        .unwrap();
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, dup).await;
    assert!(matches!(rec.state, JobState::Delivered { .. }));
    assert_eq!(
        rec.attempts[0].response_body, "run 2 for evt_layer",
        "the stored response is replayed"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the handler did not run for the duplicate"
    );

    let bad = sender
        .send("wrong-key", Event::new("t", "{}"))
        .await
        .unwrap();
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, bad).await;
    assert_eq!(
        rec.state,
        JobState::Dead {
            at: sender.now(),
            reason: DeadLetterReason::PermanentStatus(401)
        }
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
