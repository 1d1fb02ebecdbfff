//! Run with: `cargo run --example axum_receiver` — an axum app that verifies Standard Webhooks and runs each
//! event's handler once.
//! Listens on `ADDR` (default `127.0.0.1:3000`).
//!
//! Then, in another shell, sign a body with the CLI example and send it (twice: the second is a replay):
//! ```sh
//! echo '{"type":"invoice.paid","amount":42}' > body.json
//! cargo run -q --example hookguard -- sign --scheme standard-webhooks \
//!     --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --body-file body.json > headers.txt
//! curl -i -H @headers.txt --data-binary @body.json http://127.0.0.1:3000/webhooks
//! ```

use axum::Router;
use axum::routing::post;
use hookguard::{Scheme, Verifier};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::Webhook;
use hookguard_tower::store::MemoryStore;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Event {
    r#type: String,
}

/// Runs once per event: a redelivery gets this response replayed without calling it.
async fn on_event(Webhook { verified, payload }: Webhook<Event>) -> String {
    tracing::info!(id = verified.id(), kind = payload.r#type, "handling event");
    format!("handled {}\n", payload.r#type)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("info,hookguard_tower=debug")
        .init();
    let secret = std::env::var("WEBHOOK_SECRET")
        .unwrap_or_else(|_| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
    let verifier = Verifier::new(Scheme::standard_webhooks(), &secret)?;
    let app = Router::new()
        .route("/webhooks", post(on_event))
        .layer(WebhookLayer::new(verifier).idempotency(MemoryStore::new()));
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("listening on http://{}/webhooks", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
