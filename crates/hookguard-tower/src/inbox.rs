//! The transactional inbox (features `postgres` + `axum`): a handler's effect and its idempotency record
//! committed in one PostgreSQL transaction, so "handled once" holds even if the process dies in between.
//!
//! Behind a [`WebhookLayer`](crate::WebhookLayer) whose store is a
//! [`PostgresStore`], a handler takes the [`Inbox`] extractor: an
//! [`InboxTx`], a transaction on the store's pool begun after the claim was acquired. The handler writes
//! its effect through it and ends with [`InboxTx::commit`], which completes the idempotency record with a
//! token-checked `UPDATE` as the transaction's last statement and then commits. If the claim was lost
//! meanwhile (the lease lapsed and another delivery took over), the `UPDATE` finds no row, the transaction
//! is rolled back, nothing of the effect is kept, and `commit` says [`StoreError::LeaseLost`].
//!
//! Once a handler has begun an inbox transaction the layer never completes the record itself: if the
//! handler returns without committing, the layer releases the claim and the sender's retry runs it again.
//! A crash before the commit rolls everything back (redeliveries get 409 until the lease lapses, then one
//! takes over); after it, redeliveries replay the stored response.
//!
//! ```no_run
//! use axum::{Router, routing::post};
//! use hookguard::{Scheme, Verifier};
//! use hookguard_tower::{WebhookLayer, inbox::Inbox, store::{PostgresStore, StoredResponse}};
//! use http::StatusCode;
//!
//! async fn on_order(Inbox(mut tx): Inbox) -> Result<axum::response::Response, StatusCode> {
//!     sqlx::query("INSERT INTO orders (id) VALUES (gen_random_uuid())")
//!         .execute(tx.connection())
//!         .await
//!         .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
//!     let response = StoredResponse::new(StatusCode::CREATED, "order created");
//!     tx.commit(&response).await.map_err(|_| StatusCode::CONFLICT)?;
//!     Ok(response.to_response().map(axum::body::Body::from))
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
//! store.migrate().await?;
//! let verifier = Verifier::new(Scheme::standard_webhooks(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! let app: Router = Router::new()
//!     .route("/orders", post(on_order))
//!     .layer(WebhookLayer::new(verifier).idempotency(store));
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::store::{IdempotencyKey, PostgresStore, StoreError, StoredResponse, Token};

/// The claim a request runs under: put in the request's extensions by the layer when its store is a
/// [`PostgresStore`], for the [`Inbox`] extractor.
#[derive(Clone)]
pub struct ClaimHandle(Arc<Handle>);

struct Handle {
    key: IdempotencyKey,
    token: Token,
    retention: Duration,
    store: PostgresStore,
    clock: Arc<dyn hookguard::Clock>,
    began: AtomicBool,
    committed: AtomicBool,
}

impl ClaimHandle {
    pub(crate) fn new(
        key: IdempotencyKey,
        token: Token,
        retention: Duration,
        store: PostgresStore,
        clock: Arc<dyn hookguard::Clock>,
    ) -> Self {
        Self(Arc::new(Handle {
            key,
            token,
            retention,
            store,
            clock,
            began: AtomicBool::new(false),
            committed: AtomicBool::new(false),
        }))
    }

    /// The idempotency key claimed.
    pub fn key(&self) -> &IdempotencyKey {
        &self.0.key
    }

    /// Whether a handler began an inbox transaction under this claim: the layer then leaves the record
    /// to it.
    pub fn began(&self) -> bool {
        self.0.began.load(Ordering::SeqCst)
    }

    /// Whether that transaction committed the record.
    pub fn committed(&self) -> bool {
        self.0.committed.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ClaimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimHandle")
            .field("key", &self.0.key)
            .field("token", &self.0.token)
            .field("began", &self.began())
            .field("committed", &self.committed())
            .finish_non_exhaustive()
    }
}

/// The extractor: an [`InboxTx`] for the request's claim.
#[derive(Debug)]
pub struct Inbox(pub InboxTx);

/// A transaction on the store's database, bound to the request's claim. Write the handler's effect through
/// [`connection`](Self::connection), then [`commit`](Self::commit); dropping it rolls back.
pub struct InboxTx {
    tx: Transaction<'static, Postgres>,
    handle: ClaimHandle,
}

impl InboxTx {
    /// The transaction's connection, for the handler's own statements.
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Completes the idempotency record with `response` as the transaction's last statement, then commits
    /// the whole transaction: the effect and the record are kept together or not at all.
    ///
    /// # Errors
    /// [`StoreError::LeaseLost`] if the claim is no longer this request's (rolled back, nothing kept);
    /// [`StoreError::Unavailable`] if the database fails (rolled back by PostgreSQL);
    /// [`StoreError::TooLarge`] if the response passes a record limit (rolled back).
    pub async fn commit(mut self, response: &StoredResponse) -> Result<(), StoreError> {
        let handle = self.handle.clone();
        let h = &handle.0;
        let updated = h
            .store
            .complete_in(
                &mut self.tx,
                &h.key,
                &h.token,
                response,
                h.retention,
                h.clock.now(),
            )
            .await?;
        if !updated {
            // Dropping the transaction would roll back too; say so to the server now.
            let _ = self.tx.rollback().await;
            return Err(StoreError::LeaseLost);
        }
        self.tx
            .commit()
            .await
            .map_err(|e| StoreError::unavailable("postgresql", e))?;
        h.committed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

impl fmt::Debug for InboxTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxTx")
            .field("claim", &self.handle)
            .finish_non_exhaustive()
    }
}

/// Why the [`Inbox`] extractor failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxRejection {
    /// No claim in the request: the layer is missing, its store is not a `PostgresStore`, or the request
    /// passed without deduplication (a wiring bug, 500).
    #[error(
        "no idempotency claim for an inbox transaction: put the layer with a PostgresStore in front"
    )]
    NoClaim,
    /// The transaction could not be begun (503: the sender retries).
    #[error("could not begin the inbox transaction")]
    Unavailable(#[source] sqlx::Error),
}

impl IntoResponse for InboxRejection {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NoClaim => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, self.to_string()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Inbox {
    type Rejection = InboxRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let handle = parts
            .extensions
            .get::<ClaimHandle>()
            .cloned()
            .ok_or(InboxRejection::NoClaim)?;
        // Begun only now, after the claim: duplicates of this event never hold a connection.
        let tx = handle
            .0
            .store
            .pool()
            .begin()
            .await
            .map_err(InboxRejection::Unavailable)?;
        handle.0.began.store(true, Ordering::SeqCst);
        Ok(Self(InboxTx { tx, handle }))
    }
}
