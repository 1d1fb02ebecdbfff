//! Run with: `cargo run --example postgres_receiver --features postgres` — an axum receiver whose
//! idempotency records live in PostgreSQL (schema `hookguard_idem`, migrated at start, expired rows purged
//! every minute), so several copies of it behave as replicas of one service.
//!
//! Reads `ADDR` (default `127.0.0.1:3000`), `WEBHOOK_SECRET` and `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Two replicas:
//! ```sh
//! ADDR=127.0.0.1:3000 cargo run --example postgres_receiver --features postgres &
//! ADDR=127.0.0.1:3001 cargo run --example postgres_receiver --features postgres &
//! ```
//! Send the same signed request to both (see `axum_receiver`): one logs `handling event`, the other
//! replays its response.

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use hookguard::{Scheme, Verifier};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::VerifiedWebhook;
use hookguard_tower::store::PostgresStore;

async fn on_event(VerifiedWebhook(verified): VerifiedWebhook) -> &'static str {
    tracing::info!(id = verified.id(), "handling event");
    "handled\n"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let secret = std::env::var("WEBHOOK_SECRET")
        .unwrap_or_else(|_| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let store = PostgresStore::connect(&url).await?;
    store.migrate().await?;
    let _purger = store.spawn_purger(Duration::from_secs(60), 1_000);
    let verifier = Verifier::new(Scheme::standard_webhooks(), &secret)?;
    let app = Router::new()
        .route("/webhooks", post(on_event))
        .layer(WebhookLayer::new(verifier).idempotency(store));
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("listening on http://{}/webhooks", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
