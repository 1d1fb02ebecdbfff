//! Run with: `cargo run --example handler_verify` — verifying inside an axum handler, without the layer,
//! and running the work once per event with `Idempotency::run`.
//!
//! Then, in another shell:
//! ```sh
//! echo '{"type":"invoice.paid","amount":42}' > body.json
//! cargo run -q --example hookguard -- sign --scheme standard-webhooks \
//!     --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --body-file body.json > headers.txt
//! curl -i -H @headers.txt --data-binary @body.json http://127.0.0.1:3000/webhooks
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use hookguard::{Scheme, Verifier};
use hookguard_tower::store::{IdempotencyKey, MemoryStore};
use hookguard_tower::{Idempotency, Rejection, fingerprint};

struct App {
    verifier: Verifier,
    idempotency: Idempotency<MemoryStore>,
}

async fn webhook(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = match app.verifier.verify(&headers, &body) {
        Ok(verified) => verified,
        Err(error) => return Rejection::Verify(error).into_response(),
    };
    let Some(id) = verified.id() else {
        return (StatusCode::BAD_REQUEST, "no event id").into_response();
    };
    let key = IdempotencyKey::new(format!("{}:{id}", verified.scheme()));
    let fingerprint = fingerprint(&body);
    let work = || async move {
        tracing::info!(bytes = body.len(), "handling event");
        http::Response::new(Bytes::from_static(b"handled\n"))
    };
    match app.idempotency.run(&key, fingerprint, work).await {
        // Fresh, replayed (with `Idempotent-Replayed: true`), 409 in progress or 422 reused id.
        Ok(outcome) => outcome.into_response(),
        Err(error) => {
            tracing::warn!(%error, "idempotency store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "5")]).into_response()
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let secret = std::env::var("WEBHOOK_SECRET")
        .unwrap_or_else(|_| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
    let verifier = Verifier::new(Scheme::standard_webhooks(), &secret)?;
    // One clock for signatures and leases: the verifier's.
    let idempotency = Idempotency::new(MemoryStore::new()).with_clock(verifier.clock().clone());
    let app = Arc::new(App {
        verifier,
        idempotency,
    });
    let router = Router::new()
        .route("/webhooks", post(webhook))
        .with_state(app);
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("listening on http://{}/webhooks", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
