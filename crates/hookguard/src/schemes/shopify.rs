//! Shopify (<https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-2-validate-the-origin-of-your-webhook>).

use http::HeaderName;

use crate::key::KeyFormat;
use crate::scheme::{Encoding, Part, SchemeDef, SignatureFormat, TimestampSource};

pub(crate) fn def() -> SchemeDef {
    SchemeDef {
        name: "shopify",
        signature: HeaderName::from_static("x-shopify-hmac-sha256"),
        alternate: None,
        // The event id is what Shopify documents for duplicate detection; older deliveries carry only the
        // webhook id.
        id: Some(HeaderName::from_static("x-shopify-event-id")),
        id_fallback: Some(HeaderName::from_static("x-shopify-webhook-id")),
        timestamp: TimestampSource::None,
        format: SignatureFormat::Single {
            prefix: "".into(),
            encoding: Encoding::Base64,
        },
        content: vec![Part::Payload],
        keys: KeyFormat::Raw,
    }
}
