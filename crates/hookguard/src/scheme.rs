//! What a signature scheme is: which headers it reads, what bytes it signs, how it encodes the tag.

use std::borrow::Cow;
use std::sync::Arc;

use http::HeaderName;

use crate::key::KeyFormat;
use crate::schemes;

/// How a signature is written as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// Lower-case hexadecimal (upper case is accepted when verifying).
    Hex,
    /// Standard base64 with padding (padding optional when verifying).
    Base64,
}

/// A piece of the signed content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Id,
    Timestamp,
    Payload,
    Literal(Cow<'static, [u8]>),
}

/// Where the signature header keeps its signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SignatureFormat {
    /// Space-separated `version,base64` entries (`v1` HMAC, `v1a` Ed25519).
    StandardWebhooks,
    /// `t=…,v1=…,v1=…,v0=…`: the timestamp lives in the signature header.
    Stripe,
    /// One signature, after an optional fixed prefix.
    Single {
        prefix: Cow<'static, str>,
        encoding: Encoding,
    },
}

/// Where the timestamp comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TimestampSource {
    None,
    Header(HeaderName),
    /// Inside the signature header (Stripe's `t=`).
    InSignature,
}

/// The full description of a scheme. Presets live in [`crate::schemes`], one module each.
#[derive(Clone, Debug)]
pub(crate) struct SchemeDef {
    pub(crate) name: &'static str,
    pub(crate) signature: HeaderName,
    /// Header names to use instead when the request carries them (Svix's `svix-*` names).
    pub(crate) alternate: Option<AlternateNames>,
    pub(crate) id: Option<HeaderName>,
    pub(crate) id_fallback: Option<HeaderName>,
    pub(crate) timestamp: TimestampSource,
    pub(crate) format: SignatureFormat,
    pub(crate) content: Vec<Part>,
    pub(crate) keys: KeyFormat,
}

#[derive(Clone, Debug)]
pub(crate) struct AlternateNames {
    pub(crate) signature: HeaderName,
    pub(crate) id: HeaderName,
    pub(crate) timestamp: HeaderName,
}

impl SchemeDef {
    pub(crate) fn signs(&self, part: &Part) -> bool {
        self.content.contains(part)
    }
}

/// A webhook signature scheme: a provider's preset or one built with [`Scheme::custom`].
///
/// Cheap to clone.
///
/// ```
/// use hookguard::Scheme;
/// assert_eq!(Scheme::stripe().name(), "stripe");
/// ```
#[derive(Clone, Debug)]
pub struct Scheme {
    pub(crate) def: Arc<SchemeDef>,
}

impl Scheme {
    pub(crate) fn from_def(def: SchemeDef) -> Self {
        Self { def: Arc::new(def) }
    }

    /// [Standard Webhooks](https://www.standardwebhooks.com/): `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature` (or Svix's `svix-*` names), HMAC-SHA256 `v1` over `{id}.{timestamp}.{payload}`, and
    /// Ed25519 `v1a` with the `ed25519` feature. Keys are `whsec_` + base64.
    #[must_use]
    pub fn standard_webhooks() -> Self {
        Self::from_def(schemes::standard_webhooks::def())
    }

    /// Stripe: `Stripe-Signature: t=…,v1=…`, HMAC-SHA256 hex over `{t}.{payload}`, keyed with the UTF-8 bytes
    /// of the whole `whsec_…` string. Only `v1` signatures count.
    #[must_use]
    pub fn stripe() -> Self {
        Self::from_def(schemes::stripe::def())
    }

    /// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the raw body; no timestamp; the event id is
    /// `X-GitHub-Delivery`.
    #[must_use]
    pub fn github() -> Self {
        Self::from_def(schemes::github::def())
    }

    /// Slack: `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`, timestamp in
    /// `X-Slack-Request-Timestamp`; Slack sends no event id header.
    #[must_use]
    pub fn slack() -> Self {
        Self::from_def(schemes::slack::def())
    }

    /// Shopify: `X-Shopify-Hmac-Sha256: <base64>` over the raw body; no timestamp; the event id is
    /// `X-Shopify-Event-Id`, or `X-Shopify-Webhook-Id` when that is absent.
    #[must_use]
    pub fn shopify() -> Self {
        Self::from_def(schemes::shopify::def())
    }

    /// Starts describing any other HMAC-SHA256 scheme.
    ///
    /// ```
    /// use hookguard::{Encoding, Scheme};
    /// let scheme = Scheme::custom("acme")
    ///     .signature_header("x-acme-signature")
    ///     .prefix("sha256=")
    ///     .encoding(Encoding::Hex)
    ///     .timestamp_header("x-acme-timestamp")
    ///     .id_header("x-acme-delivery")
    ///     .signed_content("{timestamp}.{payload}")
    ///     .build()?;
    /// assert_eq!(scheme.name(), "acme");
    /// # Ok::<(), hookguard::SchemeError>(())
    /// ```
    pub fn custom(name: &'static str) -> schemes::custom::CustomScheme {
        schemes::custom::CustomScheme::new(name)
    }

    /// The scheme's name: `standard-webhooks`, `stripe`, `github`, `slack`, `shopify`, or a custom name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.def.name
    }

    /// Whether the scheme carries a timestamp (and so is protected against replays by the tolerance window).
    #[must_use]
    pub fn has_timestamp(&self) -> bool {
        self.def.timestamp != TimestampSource::None
    }
}
