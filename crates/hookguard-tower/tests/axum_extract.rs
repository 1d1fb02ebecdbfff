//! The axum extractors: `VerifiedWebhook` and the typed `Webhook<T>` payload, and their rejections.

mod common;

use axum::Router;
use axum::routing::post;
use common::{deliver, problem, serve};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::{VerifiedWebhook, Webhook};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Invoice {
    r#type: String,
    amount: u64,
}

async fn typed(Webhook { verified, payload }: Webhook<Invoice>) -> String {
    format!(
        "{} {} {} key#{}",
        verified.id().unwrap_or("-"),
        payload.r#type,
        payload.amount,
        verified.key_index()
    )
}

async fn untyped(VerifiedWebhook(verified): VerifiedWebhook) -> String {
    format!(
        "{} at {}",
        verified.scheme(),
        verified.timestamp().is_some()
    )
}

fn routes() -> Router {
    Router::new()
        .route("/typed", post(typed))
        .route("/untyped", post(untyped))
}

#[tokio::test]
async fn handlers_get_the_verified_signature_and_typed_payload() {
    let addr = serve(routes().layer(WebhookLayer::new(common::verifier()))).await;
    let res = deliver(
        addr,
        "/typed",
        "msg_typed",
        br#"{"type":"invoice.paid","amount":42}"#,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "msg_typed invoice.paid 42 key#0");
    let res = deliver(addr, "/untyped", "msg_untyped", b"not even json").await;
    assert_eq!(res.text().await.unwrap(), "standard-webhooks at true");
}

#[tokio::test]
async fn bad_json_is_400_wrong_shape_is_422() {
    let addr = serve(routes().layer(WebhookLayer::new(common::verifier()))).await;
    let res = deliver(addr, "/typed", "msg_syntax", b"{\"type\":").await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["type"],
        "https://hookguard.dev/problems/invalid-json"
    );
    let res = deliver(
        addr,
        "/typed",
        "msg_shape",
        br#"{"type":"invoice.paid","amount":"lots"}"#,
    )
    .await;
    assert_eq!(res.status(), 422);
    problem(res).await;
}

#[tokio::test]
async fn without_the_layer_the_extractor_is_a_500() {
    let addr = serve(routes()).await;
    let res = deliver(addr, "/untyped", "msg_nolayer", b"{}").await;
    assert_eq!(res.status(), 500);
    assert_eq!(
        problem(res).await["type"],
        "https://hookguard.dev/problems/not-verified"
    );
}
