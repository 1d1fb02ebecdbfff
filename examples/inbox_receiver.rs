//! Run with: `cargo run --example inbox_receiver --features postgres` — the transactional inbox: each
//! `order.placed` webhook inserts a row into an `orders` table in the same transaction that completes its
//! idempotency record, so a crash between the two can neither lose the order nor insert it twice.
//!
//! Reads `ADDR` (default `127.0.0.1:3000`), `WEBHOOK_SECRET` and `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Send a signed `{"order":"o_1","amount":42}` twice (see
//! `axum_receiver`): one row, and the second answer is the first one replayed.

use axum::Router;
use axum::routing::post;
use hookguard::{Scheme, Verifier};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::Webhook;
use hookguard_tower::inbox::Inbox;
use hookguard_tower::store::{PostgresStore, StoreError, StoredResponse};
use http::StatusCode;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Order {
    order: String,
    amount: i64,
}

async fn on_order(
    Inbox(mut tx): Inbox,
    Webhook { verified, payload }: Webhook<Order>,
) -> Result<axum::response::Response, (StatusCode, String)> {
    let failed = |e: sqlx::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    sqlx::query("INSERT INTO orders (id, amount, event_id) VALUES ($1, $2, $3)")
        .bind(&payload.order)
        .bind(payload.amount)
        .bind(verified.id())
        .execute(tx.connection())
        .await
        .map_err(failed)?;
    tracing::info!(id = verified.id(), order = payload.order, "handling event");
    let response = StoredResponse::new(
        StatusCode::CREATED,
        format!("order {} saved\n", payload.order),
    );
    match tx.commit(&response).await {
        Ok(()) => Ok(response.to_response().map(axum::body::Body::from)),
        // Another delivery took the event over: nothing was kept; let the sender retry.
        Err(StoreError::LeaseLost) => Err((StatusCode::CONFLICT, "taken over\n".into())),
        Err(error) => Err((StatusCode::SERVICE_UNAVAILABLE, error.to_string())),
    }
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
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, amount bigint NOT NULL, event_id text)",
    )
    .execute(store.pool())
    .await?;
    let verifier = Verifier::new(Scheme::standard_webhooks(), &secret)?;
    let app = Router::new()
        .route("/webhooks", post(on_order))
        .layer(WebhookLayer::new(verifier).idempotency(store));
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("listening on http://{}/webhooks", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
