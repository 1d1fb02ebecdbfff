//! Typed errors. None of them ever carries a key or an expected signature.

use http::HeaderName;

/// Why a webhook failed verification.
///
/// The variants say what was wrong with the request, never what the right signature would have been.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A header the scheme requires is absent.
    #[error("missing header `{0}`")]
    MissingHeader(HeaderName),
    /// A header is present but unusable: sent twice, not visible ASCII, a timestamp that is not an integer,
    /// or a signature header in which no entry parses.
    #[error("malformed header `{0}`")]
    MalformedHeader(HeaderName),
    /// The signature header parsed, but no signature in it matches any key.
    #[error("no signature matches")]
    SignatureMismatch,
    /// The timestamp is older than the tolerance allows (a possible replay).
    #[error("timestamp is too old")]
    TimestampTooOld,
    /// The timestamp lies further in the future than the tolerance allows.
    #[error("timestamp is too far in the future")]
    TimestampTooNew,
}

impl VerifyError {
    /// A stable, kebab-case name for the kind of failure, for metrics, logs and problem types.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing-header",
            Self::MalformedHeader(_) => "malformed-header",
            Self::SignatureMismatch => "signature-mismatch",
            Self::TimestampTooOld => "timestamp-too-old",
            Self::TimestampTooNew => "timestamp-too-new",
        }
    }

    /// Whether the request could not be read at all (`true`, HTTP 400) rather than read and refused
    /// (`false`, HTTP 401).
    #[must_use]
    pub fn is_malformed_request(&self) -> bool {
        matches!(self, Self::MissingHeader(_) | Self::MalformedHeader(_))
    }
}

/// Why a key could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is empty.
    #[error("the key is empty")]
    Empty,
    /// The key is shorter than the minimum for an HMAC key.
    #[error("the key is {len} bytes long; at least {min} are required")]
    TooShort {
        /// The key's length in bytes (after decoding).
        len: usize,
        /// The minimum length in bytes.
        min: usize,
    },
    /// The key should be base64 (after its prefix) and is not.
    #[error("the key is not valid base64 after its `{prefix}` prefix")]
    InvalidBase64 {
        /// The prefix the key carried (or would carry), e.g. `whsec_`.
        prefix: &'static str,
    },
    /// An Ed25519 key has the wrong length or is not a valid curve point.
    #[error("the key is not a valid Ed25519 key")]
    InvalidEd25519,
    /// An Ed25519 key (`whpk_`/`whsk_`) was given but the `ed25519` feature is off.
    #[error("Ed25519 keys need the `ed25519` feature of hookguard")]
    Ed25519Disabled,
    /// An Ed25519 key was given for a scheme other than Standard Webhooks.
    #[error("the {scheme} scheme does not use Ed25519 keys")]
    Ed25519NotSupported {
        /// The scheme's name.
        scheme: &'static str,
    },
    /// A public key (`whpk_`) cannot sign.
    #[error("a public key (`whpk_…`) cannot sign; give the secret key (`whsk_…`)")]
    CannotSign,
}

/// Why a set of headers could not be produced.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The event id cannot be sent in a header (it must be visible ASCII, without spaces or commas) or is empty.
    #[error("the event id is empty or not a valid header value")]
    InvalidId,
    /// The timestamp is negative, or longer than the 18 digits verifiers read.
    #[error("the timestamp is negative or out of range")]
    InvalidTimestamp,
}

/// Why a custom scheme could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemeError {
    /// A header name is not a valid HTTP header name.
    #[error("`{0}` is not a valid header name")]
    InvalidHeaderName(String),
    /// No signature header was given.
    #[error("a custom scheme needs a signature header")]
    MissingSignatureHeader,
    /// The signed-content template names a placeholder other than `{id}`, `{timestamp}` and `{payload}`.
    #[error("unknown placeholder `{{{0}}}` in the signed-content template")]
    UnknownPlaceholder(String),
    /// The signature prefix is not printable ASCII, or starts with a space.
    #[error("the signature prefix must be printable ASCII")]
    InvalidPrefix,
    /// The template has an unclosed `{`.
    #[error("unclosed `{{` in the signed-content template")]
    UnclosedPlaceholder,
    /// The template has no `{payload}`.
    #[error("the signed-content template must contain `{{payload}}`")]
    PayloadNotSigned,
    /// The template uses `{timestamp}` or `{id}` but the scheme has no header to read it from.
    #[error("the signed-content template uses `{{{0}}}` but no {0} header is configured")]
    PlaceholderWithoutHeader(&'static str),
    /// A timestamp header is configured but the template does not sign `{timestamp}`: anyone could set it,
    /// so checking its tolerance would protect against nothing.
    #[error(
        "a timestamp header is configured but the signed-content template does not use `{{timestamp}}`"
    )]
    TimestampNotSigned,
}
