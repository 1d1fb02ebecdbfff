//! Stripe (<https://docs.stripe.com/webhooks#verify-manually>).

use http::HeaderName;

use crate::key::KeyFormat;
use crate::scheme::{Part, SchemeDef, SignatureFormat, TimestampSource};

pub(crate) fn def() -> SchemeDef {
    SchemeDef {
        name: "stripe",
        signature: HeaderName::from_static("stripe-signature"),
        alternate: None,
        // Stripe's event id is in the JSON body (`id`), not in a header.
        id: None,
        id_fallback: None,
        timestamp: TimestampSource::InSignature,
        format: SignatureFormat::Stripe,
        content: vec![Part::Timestamp, Part::Literal(b".".into()), Part::Payload],
        // Stripe keys HMAC with the whole `whsec_…` string, not its base64-decoded bytes.
        keys: KeyFormat::Raw,
    }
}
