//! The transactional inbox against a real PostgreSQL (`DATABASE_URL`): the handler's effect (a row) and
//! the idempotency record commit together; without a commit both are gone and the retry runs again; a claim
//! lost mid-handler commits nothing. Skipped with a printed line when `DATABASE_URL` is unset, failed
//! instead when `HOOKGUARD_REQUIRE_BACKENDS=1`.

mod common;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use common::{post_with, serve};
use hookguard::{Clock, TestClock, Timestamp};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::VerifiedWebhook;
use hookguard_tower::inbox::Inbox;
use hookguard_tower::store::{
    Claim, IdempotencyKey, IdempotencyStore, PostgresStore, StoreError, StoredResponse, TimeSource,
};
use http::StatusCode;
use sqlx::AssertSqlSafe;

const LEASE: Duration = Duration::from_secs(30);

fn database_url() -> Option<String> {
    common::backend_url("DATABASE_URL", "inbox")
}

#[derive(Clone)]
struct App {
    store: PostgresStore,
    schema: String,
    clock: TestClock,
}

impl App {
    async fn effects(&self, event: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.effects WHERE event_id = $1",
            self.schema
        )))
        .bind(event)
        .fetch_one(self.store.pool())
        .await
        .unwrap()
    }
}

/// Writes the effect, then: `commit` commits; `no-commit` returns 500 without committing; `lose-lease`
/// lets the lease lapse and another delivery take over before committing.
async fn handler(
    State(app): State<App>,
    axum::extract::Path(mode): axum::extract::Path<String>,
    VerifiedWebhook(verified): VerifiedWebhook,
    Inbox(mut tx): Inbox,
) -> (StatusCode, String) {
    let event = verified.id().unwrap_or_default().to_owned();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {}.effects (event_id) VALUES ($1)",
        app.schema
    )))
    .bind(&event)
    .execute(tx.connection())
    .await
    .unwrap();
    match mode.as_str() {
        "no-commit" => return (StatusCode::INTERNAL_SERVER_ERROR, "rolled back".into()),
        "lose-lease" => {
            app.clock.advance(LEASE + Duration::from_secs(1));
            let key = IdempotencyKey::new(format!("standard-webhooks:{event}"));
            let body = br#"{"type":"order.placed"}"#;
            let fp = hookguard_tower::fingerprint(body);
            let claim = app
                .store
                .claim(&key, fp, LEASE, LEASE, app.clock.now())
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
        }
        _ => {}
    }
    let response = StoredResponse::new(StatusCode::CREATED, "order created");
    match tx.commit(&response).await {
        Ok(()) => (StatusCode::CREATED, "order created".into()),
        Err(StoreError::LeaseLost) => (StatusCode::CONFLICT, "lease lost".into()),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
}

async fn setup(url: &str) -> (App, std::net::SocketAddr) {
    let hex = common::unique_hex(8);
    let schema = format!("hookguard_inbox_{hex}");
    let store = PostgresStore::connect(url)
        .await
        .unwrap()
        .schema(&schema)
        .unwrap()
        .time_source(TimeSource::Caller);
    store.migrate().await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE {schema}.effects (event_id text NOT NULL)"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    let clock = TestClock::new(Timestamp::now());
    let app = App {
        store: store.clone(),
        schema,
        clock: clock.clone(),
    };
    let layer = WebhookLayer::new(common::verifier().with_clock(clock))
        .idempotency(store)
        .lease(LEASE);
    let router = Router::new()
        .route("/{mode}", post(handler))
        .with_state(app.clone())
        .layer(layer);
    (app, serve(router).await)
}

async fn teardown(app: &App) {
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", app.schema)))
        .execute(app.store.pool())
        .await
        .unwrap();
}

async fn deliver(addr: std::net::SocketAddr, mode: &str, event: &str) -> reqwest::Response {
    let body = br#"{"type":"order.placed"}"#;
    post_with(
        addr,
        &format!("/{mode}"),
        common::signed(event, body),
        &body[..],
    )
    .await
}

#[tokio::test]
async fn a_committed_effect_is_kept_once_and_replayed() {
    let Some(url) = database_url() else { return };
    let (app, addr) = setup(&url).await;
    let first = deliver(addr, "commit", "evt_commit").await;
    assert_eq!(first.status(), 201);
    let again = deliver(addr, "commit", "evt_commit").await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), "order created");
    assert_eq!(app.effects("evt_commit").await, 1);
    teardown(&app).await;
}

#[tokio::test]
async fn without_a_commit_nothing_is_kept_and_the_retry_runs_again() {
    let Some(url) = database_url() else { return };
    let (app, addr) = setup(&url).await;
    assert_eq!(deliver(addr, "no-commit", "evt_retry").await.status(), 500);
    assert_eq!(
        app.effects("evt_retry").await,
        0,
        "the effect was rolled back"
    );
    // The claim was released: the retry runs the handler, which commits this time.
    let retry = deliver(addr, "commit", "evt_retry").await;
    assert_eq!(retry.status(), 201);
    assert!(!retry.headers().contains_key("idempotent-replayed"));
    assert_eq!(app.effects("evt_retry").await, 1);
    teardown(&app).await;
}

#[tokio::test]
async fn a_claim_lost_mid_handler_commits_nothing() {
    let Some(url) = database_url() else { return };
    let (app, addr) = setup(&url).await;
    let res = deliver(addr, "lose-lease", "evt_lost").await;
    assert_eq!(res.status(), 409, "{}", res.text().await.unwrap());
    assert_eq!(app.effects("evt_lost").await, 0);
    // The record belongs to the delivery that took over.
    assert_eq!(deliver(addr, "commit", "evt_lost").await.status(), 409);
    teardown(&app).await;
}
