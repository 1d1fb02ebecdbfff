//! Standard Webhooks (<https://www.standardwebhooks.com/>), which Svix also sends under `svix-*` names.

use http::HeaderName;

use crate::key::KeyFormat;
use crate::scheme::{AlternateNames, Part, SchemeDef, SignatureFormat, TimestampSource};

pub(crate) fn def() -> SchemeDef {
    SchemeDef {
        name: "standard-webhooks",
        signature: HeaderName::from_static("webhook-signature"),
        alternate: Some(AlternateNames {
            signature: HeaderName::from_static("svix-signature"),
            id: HeaderName::from_static("svix-id"),
            timestamp: HeaderName::from_static("svix-timestamp"),
        }),
        id: Some(HeaderName::from_static("webhook-id")),
        id_fallback: None,
        timestamp: TimestampSource::Header(HeaderName::from_static("webhook-timestamp")),
        format: SignatureFormat::StandardWebhooks,
        content: vec![
            Part::Id,
            Part::Literal(b".".into()),
            Part::Timestamp,
            Part::Literal(b".".into()),
            Part::Payload,
        ],
        keys: KeyFormat::StandardWebhooks,
    }
}
