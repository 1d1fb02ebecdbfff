//! Slack (<https://api.slack.com/authentication/verifying-requests-from-slack>).

use http::HeaderName;

use crate::key::KeyFormat;
use crate::scheme::{Encoding, Part, SchemeDef, SignatureFormat, TimestampSource};

pub(crate) fn def() -> SchemeDef {
    SchemeDef {
        name: "slack",
        signature: HeaderName::from_static("x-slack-signature"),
        alternate: None,
        id: None,
        id_fallback: None,
        timestamp: TimestampSource::Header(HeaderName::from_static("x-slack-request-timestamp")),
        format: SignatureFormat::Single {
            prefix: "v0=".into(),
            encoding: Encoding::Hex,
        },
        content: vec![
            Part::Literal(b"v0:".into()),
            Part::Timestamp,
            Part::Literal(b":".into()),
            Part::Payload,
        ],
        keys: KeyFormat::Raw,
    }
}
