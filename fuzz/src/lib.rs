//! Shared pieces of the fuzz targets: the schemes and keys they use, and the byte formats their inputs are
//! read in (simple enough that `seeds/make_seeds.py` writes them from the published vectors).

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine as _;
use hookguard::{Encoding, FixedClock, Scheme, Signer, Verifier};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The clock the `verify` target's Standard Webhooks verifier reads: between the two published vectors'
/// timestamps, with a tolerance wide enough that both still verify.
pub const STANDARD_WEBHOOKS_NOW: i64 = 1_632_000_000;
/// The tolerance that goes with [`STANDARD_WEBHOOKS_NOW`].
pub const STANDARD_WEBHOOKS_TOLERANCE: i64 = 20_000_000;
/// The clock of every other verifier in the `verify` target (tolerance: the default five minutes).
pub const NOW: i64 = 1_700_000_000;
/// The default tolerance, in seconds.
pub const TOLERANCE: i64 = 300;

/// Where a scheme keeps its signatures, so the targets can find and alter the encoded tags.
#[derive(Clone, Debug)]
pub enum TagFormat {
    /// `v1,<base64>` / `v1a,<base64>` entries separated by spaces.
    StandardWebhooks,
    /// `t=<ts>,v1=<hex>,…`.
    Stripe,
    /// One tag after a fixed prefix.
    Single {
        /// The fixed prefix.
        prefix: String,
        /// How the tag is written.
        encoding: Encoding,
    },
}

/// One scheme with the keys the targets use for it.
#[derive(Debug)]
pub struct Fixture {
    /// A short label for messages.
    pub label: &'static str,
    /// The scheme.
    pub scheme: Scheme,
    /// Keys that sign (the form [`Signer::new`] takes).
    pub signing_keys: Vec<String>,
    /// The same keys in the form [`Verifier::new`] takes (differs only for Ed25519: `whpk_` for `whsk_`).
    pub verifying_keys: Vec<String>,
    /// A key of the right form that signed nothing.
    pub unrelated_key: String,
    /// The header that carries the signature.
    pub signature_header: HeaderName,
    /// The header with the event id, when the scheme sends one.
    pub id_header: Option<HeaderName>,
    /// The header with the timestamp, when the scheme has one in a header of its own.
    pub timestamp_header: Option<HeaderName>,
    /// Whether the signed content depends on the timestamp.
    pub signs_timestamp: bool,
    /// Whether the signed content depends on the id.
    pub signs_id: bool,
    /// How the tags are written.
    pub tags: TagFormat,
}

impl Fixture {
    /// A verifier over all of this fixture's keys, reading `now` as the time.
    ///
    /// # Panics
    /// If a fixture key is refused (a bug in the fixture).
    #[must_use]
    pub fn verifier(&self, keys: &[String], now: i64) -> Verifier {
        let mut verifier = Verifier::new(self.scheme.clone(), &keys[0]).expect("fixture key");
        for key in &keys[1..] {
            verifier = verifier.with_secret(key).expect("fixture key");
        }
        verifier.with_clock(FixedClock(now))
    }

    /// A signer over the first `n` signing keys.
    ///
    /// # Panics
    /// If a fixture key is refused (a bug in the fixture).
    #[must_use]
    pub fn signer(&self, n: usize) -> Signer {
        let mut signer =
            Signer::new(self.scheme.clone(), &self.signing_keys[0]).expect("fixture key");
        for key in &self.signing_keys[1..n] {
            signer = signer.with_secret(key).expect("fixture key");
        }
        signer
    }
}

/// The seed of the Ed25519 key pair the fixtures use.
const ED25519_SEED: [u8; 32] = [0x42; 32];

fn ed25519_keys() -> (String, String) {
    let key = ed25519_dalek::SigningKey::from_bytes(&ED25519_SEED);
    let b64 = base64::engine::general_purpose::STANDARD;
    (
        format!("whsk_{}", b64.encode(ED25519_SEED)),
        format!("whpk_{}", b64.encode(key.verifying_key().to_bytes())),
    )
}

fn name(s: &'static str) -> HeaderName {
    HeaderName::from_static(s)
}

fn strings(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|&k| k.to_owned()).collect()
}

/// The `acme` custom scheme: base64 after `sha256=`, signing `{id}:{timestamp}:{payload}`.
///
/// # Panics
/// Never: the description is valid.
#[must_use]
pub fn acme() -> Scheme {
    Scheme::custom("acme")
        .signature_header("x-acme-signature")
        .prefix("sha256=")
        .encoding(Encoding::Base64)
        .timestamp_header("x-acme-timestamp")
        .id_header("x-acme-id")
        .signed_content("{id}:{timestamp}:{payload}")
        .build()
        .expect("valid custom scheme")
}

fn standard_webhooks_hmac() -> Fixture {
    Fixture {
        label: "standard-webhooks",
        scheme: Scheme::standard_webhooks(),
        // The keys of the two published vectors, so seeds made from them verify.
        signing_keys: strings(&[
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ]),
        verifying_keys: strings(&[
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ]),
        unrelated_key: "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        signature_header: name("webhook-signature"),
        id_header: Some(name("webhook-id")),
        timestamp_header: Some(name("webhook-timestamp")),
        signs_timestamp: true,
        signs_id: true,
        tags: TagFormat::StandardWebhooks,
    }
}

fn standard_webhooks_ed25519() -> Fixture {
    let (secret, public) = ed25519_keys();
    let other = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let unrelated = format!(
        "whpk_{}",
        base64::engine::general_purpose::STANDARD.encode(other.verifying_key().to_bytes())
    );
    Fixture {
        label: "standard-webhooks-ed25519",
        scheme: Scheme::standard_webhooks(),
        signing_keys: vec![secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()],
        verifying_keys: vec![public, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()],
        unrelated_key: unrelated,
        signature_header: name("webhook-signature"),
        id_header: Some(name("webhook-id")),
        timestamp_header: Some(name("webhook-timestamp")),
        signs_timestamp: true,
        signs_id: true,
        tags: TagFormat::StandardWebhooks,
    }
}

fn stripe() -> Fixture {
    Fixture {
        label: "stripe",
        scheme: Scheme::stripe(),
        signing_keys: strings(&[
            "whsec_stripe_fuzzing_key_0123456789",
            "whsec_stripe_fuzzing_key_rotated_01",
        ]),
        verifying_keys: strings(&[
            "whsec_stripe_fuzzing_key_0123456789",
            "whsec_stripe_fuzzing_key_rotated_01",
        ]),
        unrelated_key: "whsec_stripe_unrelated_key_00000000".to_owned(),
        signature_header: name("stripe-signature"),
        id_header: None,
        timestamp_header: None,
        signs_timestamp: true,
        signs_id: false,
        tags: TagFormat::Stripe,
    }
}

fn github() -> Fixture {
    Fixture {
        label: "github",
        scheme: Scheme::github(),
        // The key of GitHub's documented example.
        signing_keys: strings(&[
            "It's a Secret to Everybody",
            "github_rotated_key_0123456789",
        ]),
        verifying_keys: strings(&[
            "It's a Secret to Everybody",
            "github_rotated_key_0123456789",
        ]),
        unrelated_key: "github_unrelated_key_000000000".to_owned(),
        signature_header: name("x-hub-signature-256"),
        id_header: Some(name("x-github-delivery")),
        timestamp_header: None,
        signs_timestamp: false,
        signs_id: false,
        tags: TagFormat::Single {
            prefix: "sha256=".to_owned(),
            encoding: Encoding::Hex,
        },
    }
}

fn slack() -> Fixture {
    Fixture {
        label: "slack",
        scheme: Scheme::slack(),
        signing_keys: strings(&[
            "8f742231b10e8888abcd99yyyzzz85a5",
            "slack_rotated_key_0123456789ab",
        ]),
        verifying_keys: strings(&[
            "8f742231b10e8888abcd99yyyzzz85a5",
            "slack_rotated_key_0123456789ab",
        ]),
        unrelated_key: "slack_unrelated_key_0000000000".to_owned(),
        signature_header: name("x-slack-signature"),
        id_header: None,
        timestamp_header: Some(name("x-slack-request-timestamp")),
        signs_timestamp: true,
        signs_id: false,
        tags: TagFormat::Single {
            prefix: "v0=".to_owned(),
            encoding: Encoding::Hex,
        },
    }
}

fn shopify() -> Fixture {
    Fixture {
        label: "shopify",
        scheme: Scheme::shopify(),
        signing_keys: strings(&[
            "shopify_fuzzing_secret_0123456789",
            "shopify_rotated_secret_012345678",
        ]),
        verifying_keys: strings(&[
            "shopify_fuzzing_secret_0123456789",
            "shopify_rotated_secret_012345678",
        ]),
        unrelated_key: "shopify_unrelated_secret_0000000".to_owned(),
        signature_header: name("x-shopify-hmac-sha256"),
        id_header: Some(name("x-shopify-event-id")),
        timestamp_header: None,
        signs_timestamp: false,
        signs_id: false,
        tags: TagFormat::Single {
            prefix: String::new(),
            encoding: Encoding::Base64,
        },
    }
}

fn acme_fixture() -> Fixture {
    Fixture {
        label: "acme",
        scheme: acme(),
        signing_keys: strings(&[
            "acme_fuzzing_secret_0123456789ab",
            "acme_rotated_secret_0123456789a",
        ]),
        verifying_keys: strings(&[
            "acme_fuzzing_secret_0123456789ab",
            "acme_rotated_secret_0123456789a",
        ]),
        unrelated_key: "acme_unrelated_secret_000000000".to_owned(),
        signature_header: name("x-acme-signature"),
        id_header: Some(name("x-acme-id")),
        timestamp_header: Some(name("x-acme-timestamp")),
        signs_timestamp: true,
        signs_id: true,
        tags: TagFormat::Single {
            prefix: "sha256=".to_owned(),
            encoding: Encoding::Base64,
        },
    }
}

/// Every fixture, in the order the first input byte selects them (`byte % len`). The seed script relies on
/// this order.
pub static FIXTURES: LazyLock<Vec<Fixture>> = LazyLock::new(|| {
    vec![
        standard_webhooks_hmac(),
        standard_webhooks_ed25519(),
        stripe(),
        github(),
        slack(),
        shopify(),
        acme_fixture(),
    ]
});

/// The verifier the `verify` target uses for a fixture: every key, a fixed clock.
#[must_use]
pub fn verify_target_verifier(fixture: &Fixture) -> Verifier {
    if fixture.label.starts_with("standard-webhooks") {
        fixture
            .verifier(&fixture.verifying_keys, STANDARD_WEBHOOKS_NOW)
            .tolerance(Duration::from_secs(
                STANDARD_WEBHOOKS_TOLERANCE.unsigned_abs(),
            ))
    } else {
        fixture.verifier(&fixture.verifying_keys, NOW)
    }
}

/// Reads `Name: value` lines up to the first empty line (or the end) into a header map, then returns the
/// rest as the body. Lines whose name or value `http` refuses are skipped; repeated names are appended.
#[must_use]
pub fn parse_request(data: &[u8]) -> (HeaderMap, &[u8]) {
    let mut headers = HeaderMap::new();
    let mut rest = data;
    loop {
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        rest = after;
        if line.is_empty() {
            return (headers, rest);
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
        if rest.is_empty() {
            return (headers, rest);
        }
    }
}

/// A little-endian reader over the fuzz input with defaults once it runs out.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `data` from the start.
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The next byte, or 0.
    pub fn byte(&mut self) -> u8 {
        let (first, rest) = self
            .data
            .split_first()
            .map_or((0, &[][..]), |(f, r)| (*f, r));
        self.data = rest;
        first
    }

    /// The next 8 bytes as a little-endian `i64` (zero-padded).
    pub fn i64(&mut self) -> i64 {
        let mut buf = [0u8; 8];
        for b in &mut buf {
            *b = self.byte();
        }
        i64::from_le_bytes(buf)
    }

    /// The next 2 bytes as a little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// The bytes up to the next `\n` (consumed), or all that is left.
    pub fn line(&mut self) -> &'a [u8] {
        match self.data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = &self.data[..i];
                self.data = &self.data[i + 1..];
                line
            }
            None => self.rest(),
        }
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Rewrites every tag in a signature header value with `alter` applied to its decoded bytes, keeping the
/// rest of the value as it was. Returns `None` if some tag does not decode (the signer wrote it, so that
/// would be a bug the caller reports).
pub fn rewrite_tags(
    value: &str,
    format: &TagFormat,
    mut alter: impl FnMut(&mut Vec<u8>),
) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut redo = |encoded: &str, encoding: Encoding| -> Option<String> {
        let mut bytes = match encoding {
            Encoding::Hex => hex::decode(encoded).ok()?,
            _ => b64.decode(encoded).ok()?,
        };
        alter(&mut bytes);
        Some(match encoding {
            Encoding::Hex => hex::encode(bytes),
            _ => b64.encode(bytes),
        })
    };
    match format {
        TagFormat::StandardWebhooks => {
            let mut entries = Vec::new();
            for entry in value.split(' ') {
                let (version, tag) = entry.split_once(',')?;
                entries.push(format!("{version},{}", redo(tag, Encoding::Base64)?));
            }
            Some(entries.join(" "))
        }
        TagFormat::Stripe => {
            let mut items = Vec::new();
            for item in value.split(',') {
                match item.strip_prefix("v1=") {
                    Some(tag) => items.push(format!("v1={}", redo(tag, Encoding::Hex)?)),
                    None => items.push(item.to_owned()),
                }
            }
            Some(items.join(","))
        }
        TagFormat::Single { prefix, encoding } => {
            let tag = value.strip_prefix(prefix.as_str())?;
            Some(format!("{prefix}{}", redo(tag, *encoding)?))
        }
    }
}
