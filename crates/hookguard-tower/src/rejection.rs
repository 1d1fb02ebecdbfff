//! Why the layer answered a request itself, and the `application/problem+json` body it answers with.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use hookguard::VerifyError;
use http::{HeaderValue, StatusCode, header};

/// The prefix of every problem `type` URI; the rest is [`Rejection::kind`].
pub const PROBLEM_TYPE_PREFIX: &str = "https://hookguard.dev/problems/";

/// Why a request did not reach the inner service (or the store had the last word).
///
/// The layer puts a clone of it in the extensions of the response it returns, so outer layers and tests can
/// see the reason; [`WebhookLayer::rejection`](crate::WebhookLayer::rejection) replaces the default body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The body is longer than the layer's limit (413).
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read (400).
    BodyUnreadable,
    /// The signature did not verify: 400 for a missing or malformed header, 401 otherwise.
    Verify(VerifyError),
    /// Idempotency is on and the request has no idempotency key (400).
    MissingKey,
    /// The key function refused the payload (400), e.g. a JSON body without the `id` it reads.
    InvalidPayload(Cow<'static, str>),
    /// Another delivery of this event is being handled (409, with `Retry-After`).
    InProgress {
        /// When to try again.
        retry_after: Duration,
    },
    /// This key was used for a different payload (422).
    Mismatch,
    /// The idempotency store failed and the layer fails closed (503, with `Retry-After`).
    StoreUnavailable,
}

impl Rejection {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyUnreadable | Self::MissingKey | Self::InvalidPayload(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Verify(e) if e.is_malformed_request() => StatusCode::BAD_REQUEST,
            Self::Verify(_) => StatusCode::UNAUTHORIZED,
            Self::InProgress { .. } => StatusCode::CONFLICT,
            Self::Mismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable kebab-case name: the last segment of the problem `type`, and the metrics' `outcome` label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BodyTooLarge { .. } => "body-too-large",
            Self::BodyUnreadable => "body-unreadable",
            Self::Verify(e) => e.kind(),
            Self::MissingKey => "missing-idempotency-key",
            Self::InvalidPayload(_) => "invalid-payload",
            Self::InProgress { .. } => "in-progress",
            Self::Mismatch => "idempotency-key-reused",
            Self::StoreUnavailable => "store-unavailable",
        }
    }

    /// The problem `type` URI, e.g. `https://hookguard.dev/problems/signature-mismatch`.
    pub fn type_uri(&self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.kind())
    }

    /// A short, fixed summary of the problem.
    pub fn title(&self) -> &'static str {
        match self {
            Self::BodyTooLarge { .. } => "Payload too large",
            Self::BodyUnreadable => "Unreadable body",
            Self::Verify(e) if self.status() == StatusCode::BAD_REQUEST => match e {
                VerifyError::MissingHeader(_) => "Missing signature header",
                _ => "Malformed signature header",
            },
            Self::Verify(_) => "Invalid webhook signature",
            Self::MissingKey => "Missing idempotency key",
            Self::InvalidPayload(_) => "Invalid payload",
            Self::InProgress { .. } => "Delivery in progress",
            Self::Mismatch => "Idempotency key reused",
            Self::StoreUnavailable => "Idempotency store unavailable",
        }
    }

    /// A human explanation for this request. Never holds a key or an expected signature.
    pub fn detail(&self) -> String {
        match self {
            Self::BodyTooLarge { limit } => {
                format!("the body is longer than the limit of {limit} bytes")
            }
            Self::BodyUnreadable => "the request body could not be read".to_owned(),
            Self::Verify(e) => e.to_string(),
            Self::MissingKey => "the webhook carries no event id to deduplicate it by".to_owned(),
            Self::InvalidPayload(why) => why.to_string(),
            Self::InProgress { retry_after } => format!(
                "another delivery of this event is being handled; retry in {} s",
                retry_after_secs(*retry_after)
            ),
            Self::Mismatch => "this event id was already used for a different payload".to_owned(),
            Self::StoreUnavailable => {
                "deliveries cannot be deduplicated right now; retry later".to_owned()
            }
        }
    }

    /// The `Retry-After` this rejection suggests, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::InProgress { retry_after } => Some(*retry_after),
            Self::StoreUnavailable => Some(Duration::from_secs(5)),
            _ => None,
        }
    }

    /// The default response: an RFC 9457 problem document, `Retry-After` where it applies, and the
    /// rejection itself in the extensions.
    pub fn to_problem_response(&self) -> http::Response<Bytes> {
        let problem = Problem {
            type_uri: &self.type_uri(),
            title: self.title(),
            status: self.status().as_u16(),
            detail: &self.detail(),
        };
        // Four plain fields: serializing them cannot fail.
        let json = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = http::Response::new(Bytes::from(json));
        *res.status_mut() = self.status();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        self.decorate(&mut res);
        res
    }

    /// Adds `Retry-After` (where it applies) and the rejection's extension to a response.
    pub(crate) fn decorate<B>(&self, res: &mut http::Response<B>) {
        if let Some(after) = self.retry_after() {
            res.headers_mut()
                .entry(header::RETRY_AFTER)
                .or_insert_with(|| HeaderValue::from(retry_after_secs(after)));
        }
        res.extensions_mut().insert(self.clone());
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.title(),
            self.status().as_u16(),
            self.detail()
        )
    }
}

/// Whole seconds, rounded up, at least one.
pub(crate) fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs()
        .saturating_add(u64::from(d.subsec_nanos() > 0))
        .max(1)
}

/// An RFC 9457 problem document.
#[derive(serde::Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_uri: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_document_is_json_with_stable_type() {
        let r = Rejection::InvalidPayload("no \"id\"\n\u{1}".into());
        let res = r.to_problem_response();
        assert_eq!(res.status(), 400);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let v: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(v["type"], "https://hookguard.dev/problems/invalid-payload");
        assert_eq!(v["status"], 400);
        assert_eq!(v["detail"], "no \"id\"\n\u{1}");
        assert_eq!(res.extensions().get::<Rejection>(), Some(&r));
    }

    #[test]
    fn statuses_follow_the_design() {
        let cases = [
            (
                Rejection::Verify(VerifyError::SignatureMismatch),
                401,
                "signature-mismatch",
            ),
            (
                Rejection::Verify(VerifyError::TimestampTooOld),
                401,
                "timestamp-too-old",
            ),
            (
                Rejection::Verify(VerifyError::MissingHeader(header::DATE)),
                400,
                "missing-header",
            ),
            (
                Rejection::Verify(VerifyError::MalformedHeader(header::DATE)),
                400,
                "malformed-header",
            ),
            (Rejection::BodyTooLarge { limit: 1 }, 413, "body-too-large"),
            (
                Rejection::InProgress {
                    retry_after: Duration::from_millis(1500),
                },
                409,
                "in-progress",
            ),
            (Rejection::Mismatch, 422, "idempotency-key-reused"),
            (Rejection::StoreUnavailable, 503, "store-unavailable"),
        ];
        for (r, status, kind) in cases {
            assert_eq!((r.status().as_u16(), r.kind()), (status, kind), "{r}");
        }
        let res = Rejection::InProgress {
            retry_after: Duration::from_millis(1500),
        }
        .to_problem_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "2");
    }
}
