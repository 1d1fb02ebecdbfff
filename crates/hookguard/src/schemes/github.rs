//! GitHub (<https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>).

use http::HeaderName;

use crate::key::KeyFormat;
use crate::scheme::{Encoding, Part, SchemeDef, SignatureFormat, TimestampSource};

pub(crate) fn def() -> SchemeDef {
    SchemeDef {
        name: "github",
        signature: HeaderName::from_static("x-hub-signature-256"),
        alternate: None,
        id: Some(HeaderName::from_static("x-github-delivery")),
        id_fallback: None,
        timestamp: TimestampSource::None,
        format: SignatureFormat::Single {
            prefix: "sha256=".into(),
            encoding: Encoding::Hex,
        },
        content: vec![Part::Payload],
        keys: KeyFormat::Raw,
    }
}
