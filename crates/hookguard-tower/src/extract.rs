//! axum extractors for handlers behind the layer (feature `axum`).
//!
//! [`VerifiedWebhook`] hands a handler the [`Verified`] signature the layer put in the request's
//! extensions; [`Webhook<T>`] also parses the body as JSON into `T`.
//!
//! ```
//! use hookguard_tower::extract::{VerifiedWebhook, Webhook};
//!
//! #[derive(serde::Deserialize)]
//! struct Event {
//!     r#type: String,
//! }
//!
//! async fn handler(Webhook { verified, payload }: Webhook<Event>) -> String {
//!     format!("{} {}", verified.id().unwrap_or("-"), payload.r#type)
//! }
//!
//! async fn id_only(VerifiedWebhook(verified): VerifiedWebhook) -> String {
//!     verified.id().unwrap_or("-").to_owned()
//! }
//!
//! let _app: axum::Router = axum::Router::new()
//!     .route("/webhooks", axum::routing::post(handler))
//!     .route("/id", axum::routing::post(id_only));
//! ```

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hookguard::Verified;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::rejection::PROBLEM_TYPE_PREFIX;

/// The [`Verified`] signature of a request that passed the layer.
#[derive(Clone, Debug)]
pub struct VerifiedWebhook(pub Verified<'static>);

/// A verified webhook with its JSON payload parsed into `T`.
#[derive(Clone, Debug)]
pub struct Webhook<T> {
    /// The verified signature.
    pub verified: Verified<'static>,
    /// The payload.
    pub payload: T,
}

/// Why an extractor failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The request did not pass through [`WebhookLayer`](crate::WebhookLayer): a wiring bug (500).
    #[error("the webhook layer is not in front of this handler")]
    NotVerified,
    /// The body could not be read (400).
    #[error("the request body could not be read")]
    BodyUnreadable(#[source] axum::Error),
    /// The body is not JSON (400) or not the expected shape (422).
    #[error("invalid JSON payload: {0}")]
    InvalidJson(#[source] serde_json::Error),
}

impl WebhookRejection {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotVerified => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BodyUnreadable(_) => StatusCode::BAD_REQUEST,
            Self::InvalidJson(e) if e.is_data() => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The problem `type` suffix.
    fn kind(&self) -> &'static str {
        match self {
            Self::NotVerified => "not-verified",
            Self::BodyUnreadable(_) => "body-unreadable",
            Self::InvalidJson(_) => "invalid-json",
        }
    }

    /// The human explanation sent in the response.
    pub fn body_text(&self) -> String {
        self.to_string()
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{}", self.kind()),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.body_text(),
        });
        let mut res = (status, body.to_string()).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        res
    }
}

fn verified(parts: &Parts) -> Result<Verified<'static>, WebhookRejection> {
    parts
        .extensions
        .get::<Verified<'static>>()
        .cloned()
        .ok_or(WebhookRejection::NotVerified)
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedWebhook {
    type Rejection = WebhookRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        verified(parts).map(Self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Webhook<T> {
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let verified = verified(&parts)?;
        // The layer already bounded and buffered the body; this only moves it.
        let bytes: Bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(WebhookRejection::BodyUnreadable)?;
        let payload = serde_json::from_slice(&bytes).map_err(WebhookRejection::InvalidJson)?;
        Ok(Self { verified, payload })
    }
}

/// The default problem document, for handlers that verify themselves.
impl IntoResponse for crate::Rejection {
    fn into_response(self) -> Response {
        self.to_problem_response().map(axum::body::Body::from)
    }
}

/// The handler's response, the replay, or the 409 / 422 problem document.
impl IntoResponse for crate::RunOutcome {
    fn into_response(self) -> Response {
        self.into_http_response().map(axum::body::Body::from)
    }
}
