//! [`Problem`]: every error the admin router answers, as `application/problem+json` (RFC 9457).

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::queue::QueueError;

/// The prefix of every problem `type` URI; the rest is the problem's kind.
pub const PROBLEM_TYPE_PREFIX: &str = "https://hookguard.dev/problems/admin/";

/// An error response: a status, a stable kind (the `type` URI's last segment) and a human-readable detail.
///
/// Details never carry a token, a session id or a signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    kind: &'static str,
    detail: Cow<'static, str>,
}

impl Problem {
    /// A problem with this status, kind and detail.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
        }
    }

    /// 400: the request is malformed (a bad id, cursor, time or limit).
    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 401: no or a wrong token (or session).
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
    }

    /// 403: a state-changing form post from another origin, or without the session's CSRF token.
    pub fn forbidden(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404: no such job or dead letter.
    pub fn not_found(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// The response status.
    #[must_use]
    pub const fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable kind (`bad-request`, `unauthorized`, `not-found`, `endpoint-disabled`, …).
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        self.kind
    }

    /// The detail.
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The JSON body.
    #[must_use]
    pub fn body_text(&self) -> String {
        serde_json::json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{}", self.kind),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        })
        .to_string()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut res = (self.status, self.body_text()).into_response();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="hookguard-admin""#),
            );
        }
        res
    }
}

impl From<QueueError> for Problem {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::NotFound(id) => {
                Self::not_found(format!("{id} is not in the dead-letter queue"))
            }
            QueueError::EndpointDisabled(ep) => Self::new(
                StatusCode::CONFLICT,
                "endpoint-disabled",
                format!("endpoint `{ep}` is disabled: enable it before replaying its dead letters"),
            ),
            QueueError::Full { capacity } => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "queue-full",
                format!("the queue is full ({capacity} jobs)"),
            ),
            e if e.is_transient() => {
                tracing::warn!(error = %crate::error::chain(&e), "admin: queue unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "queue-unavailable",
                    "the queue backend is unavailable; try again",
                )
            }
            e => {
                tracing::error!(error = %crate::error::chain(&e), "admin: queue error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "queue-error",
                    "the queue backend failed; see the server's log",
                )
            }
        }
    }
}
