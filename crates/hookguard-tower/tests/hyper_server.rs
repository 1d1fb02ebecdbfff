//! The layer in front of a plain hyper server, through `tower::ServiceBuilder` and hyper-util.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use common::{deliver, post_with, problem};
use hookguard::Verified;
use hookguard_tower::WebhookLayer;
use hookguard_tower::store::MemoryStore;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;

/// Told when a `/slow` handler has started, that is, once its delivery holds the claim.
static SLOW_STARTED: tokio::sync::Notify = tokio::sync::Notify::const_new();

async fn handler(
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let id = req
        .extensions()
        .get::<Verified<'static>>()
        .and_then(|v| v.id().map(str::to_owned));
    if req.uri().path() == "/slow" {
        SLOW_STARTED.notify_one();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let text = format!("{} verified", id.unwrap_or_default());
    Ok(http::Response::new(Full::new(Bytes::from(text))))
}

async fn serve_hyper() -> SocketAddr {
    let service = ServiceBuilder::new()
        .layer(
            WebhookLayer::new(common::verifier())
                .idempotency(MemoryStore::new())
                .body_limit(4096),
        )
        .service_fn(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn hyper_server_verifies_deduplicates_and_rejects() {
    let addr = serve_hyper().await;
    let body = br#"{"type":"hyper"}"#;

    let res = deliver(addr, "/", "msg_hyper", body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "msg_hyper verified");

    let again = deliver(addr, "/", "msg_hyper", body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), "msg_hyper verified");

    let unsigned = post_with(addr, "/", http::HeaderMap::new(), &body[..]).await;
    assert_eq!(unsigned.status(), 400);
    assert_eq!(
        problem(unsigned).await["type"],
        "https://hookguard.dev/problems/missing-header"
    );

    let big = vec![b'x'; 4097];
    assert_eq!(deliver(addr, "/", "msg_big", &big).await.status(), 413);

    // Signed for one body, sent with another: refused, not malformed.
    let forged = post_with(addr, "/", common::signed("msg_forged", body), &b"{}"[..]).await;
    assert_eq!(forged.status(), 401);
    assert_eq!(
        problem(forged).await["type"],
        "https://hookguard.dev/problems/signature-mismatch"
    );

    // The same event id with another payload, once the first is stored.
    let other = deliver(addr, "/", "msg_hyper", br#"{"type":"other"}"#).await;
    assert_eq!(other.status(), 422);
}

#[tokio::test]
async fn hyper_server_answers_409_while_the_first_delivery_runs() {
    let addr = serve_hyper().await;
    let body = br#"{"type":"slow"}"#;
    let first = tokio::spawn(async move { deliver(addr, "/slow", "msg_slow", body).await });
    SLOW_STARTED.notified().await;
    let busy = deliver(addr, "/slow", "msg_slow", body).await;
    assert_eq!(busy.status(), 409, "the first delivery holds the claim");
    assert!(busy.headers().contains_key("retry-after"));
    let first = first.await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), "msg_slow verified");
}
