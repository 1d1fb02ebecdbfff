//! [`Signer`]: produces the headers a receiver verifies.

use std::sync::Arc;

use base64::Engine as _;
use http::{HeaderMap, HeaderValue};

use crate::error::{KeyError, SignError};
use crate::header;
use crate::key::{self, Key};
use crate::mac::{self, Content};
use crate::scheme::{Encoding, Part, Scheme, SignatureFormat, TimestampSource};

/// Signs outgoing webhooks for one scheme.
///
/// With Standard Webhooks and Stripe, every key signs and the header carries one signature per key, so
/// receivers keep verifying while a secret is rotated. Schemes that carry a single signature (GitHub, Slack,
/// Shopify, custom) sign with the first key.
///
/// ```
/// use hookguard::{Scheme, Signer};
/// let signer = Signer::new(Scheme::github(), "It's a Secret to Everybody")?;
/// let headers = signer.sign("delivery-1", 0, b"Hello, World!")?;
/// assert_eq!(
///     headers["x-hub-signature-256"],
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Signer {
    scheme: Scheme,
    keys: Arc<Vec<Key>>,
}

impl Signer {
    /// A signer for `scheme` with one key (`whsec_…` or, with the `ed25519` feature, `whsk_…` for Standard
    /// Webhooks; the plain secret for the others).
    ///
    /// # Errors
    /// A [`KeyError`], including [`KeyError::CannotSign`] for a public key.
    pub fn new(scheme: Scheme, secret: &str) -> Result<Self, KeyError> {
        let key = signing_key(&scheme, secret)?;
        Ok(Self {
            scheme,
            keys: Arc::new(vec![key]),
        })
    }

    /// Adds another key that signs too (for rotation).
    ///
    /// # Errors
    /// A [`KeyError`], including [`KeyError::CannotSign`] for a public key.
    pub fn with_secret(mut self, secret: &str) -> Result<Self, KeyError> {
        let key = signing_key(&self.scheme, secret)?;
        Arc::make_mut(&mut self.keys).push(key);
        Ok(self)
    }

    /// The scheme this signer produces.
    #[must_use]
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The headers to attach to a delivery of `payload` with event id `id` at `timestamp` (Unix seconds).
    /// Schemes without an id or a timestamp ignore them.
    ///
    /// # Errors
    /// [`SignError::InvalidId`] when the scheme sends the id and it is empty or not a valid header value;
    /// [`SignError::InvalidTimestamp`] when the timestamp is negative or has more than 18 digits (verifiers
    /// read at most 18).
    pub fn sign(&self, id: &str, timestamp: i64, payload: &[u8]) -> Result<HeaderMap, SignError> {
        let def = &*self.scheme.def;
        if !(0..=header::MAX_TIMESTAMP).contains(&timestamp) {
            return Err(SignError::InvalidTimestamp);
        }
        let timestamp_text = timestamp.to_string();
        let content = Content {
            id: id.as_bytes(),
            timestamp: timestamp_text.as_bytes(),
            payload,
        };
        let mut headers = HeaderMap::new();
        if let Some(name) = &def.id {
            // The verifier reads ids as visible ASCII (`HeaderValue::to_str`); refuse what it could not read.
            let value = HeaderValue::from_str(id)
                .ok()
                .filter(|v| v.to_str().is_ok())
                .ok_or(SignError::InvalidId)?;
            if id.is_empty() || (def.signs(&Part::Id) && id.contains([' ', ','])) {
                return Err(SignError::InvalidId);
            }
            headers.insert(name.clone(), value);
        }
        if let TimestampSource::Header(name) = &def.timestamp {
            headers.insert(name.clone(), ascii(&timestamp_text));
        }
        let signature = match &def.format {
            SignatureFormat::StandardWebhooks => {
                let entries: Vec<String> = self
                    .keys
                    .iter()
                    .map(|k| standard_webhooks_entry(k, &def.content, &content))
                    .collect();
                entries.join(" ")
            }
            SignatureFormat::Stripe => {
                let mut value = format!("t={timestamp_text}");
                for secret in self.hmac_secrets() {
                    value.push_str(",v1=");
                    value.push_str(&hex::encode(mac::hmac_sha256(
                        secret,
                        &def.content,
                        &content,
                    )));
                }
                value
            }
            SignatureFormat::Single { prefix, encoding } => {
                let tag = self
                    .hmac_secrets()
                    .next()
                    .map(|s| mac::hmac_sha256(s, &def.content, &content));
                let encoded = match (tag, encoding) {
                    (Some(tag), Encoding::Hex) => hex::encode(tag),
                    (Some(tag), Encoding::Base64) => key::base64().encode(tag),
                    (None, _) => String::new(),
                };
                format!("{prefix}{encoded}")
            }
        };
        headers.insert(def.signature.clone(), ascii(&signature));
        Ok(headers)
    }

    fn hmac_secrets(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().filter_map(Key::hmac_secret)
    }
}

fn signing_key(scheme: &Scheme, secret: &str) -> Result<Key, KeyError> {
    let key = Key::parse(scheme.def.keys, scheme.name(), secret)?;
    if key.can_sign() {
        Ok(key)
    } else {
        Err(KeyError::CannotSign)
    }
}

fn standard_webhooks_entry(key: &Key, parts: &[Part], content: &Content<'_>) -> String {
    match key {
        Key::Hmac(secret) => format!(
            "v1,{}",
            key::base64().encode(mac::hmac_sha256(secret.expose(), parts, content))
        ),
        #[cfg(feature = "ed25519")]
        Key::Ed25519Secret(secret) => {
            use ed25519_dalek::Signer as _;
            let signature = secret.sign(&content.to_vec(parts));
            format!("v1a,{}", key::base64().encode(signature.to_bytes()))
        }
        #[cfg(feature = "ed25519")]
        Key::Ed25519Public(_) => String::new(),
    }
}

/// Signatures, timestamps and prefixes are ASCII by construction.
fn ascii(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_the_verifier_cannot_read_are_refused() {
        // Found by the `roundtrip` fuzz target: a non-ASCII id was signed, then refused as malformed.
        let signer = Signer::new(Scheme::github(), "It's a Secret to Everybody").unwrap();
        assert_eq!(
            signer.sign("délivery", 0, b"{}").unwrap_err(),
            SignError::InvalidId
        );
        assert!(signer.sign("delivery 1", 0, b"{}").is_ok());
    }

    #[test]
    fn timestamps_the_verifier_cannot_read_are_refused() {
        // Found by the `roundtrip` fuzz target: a 19-digit timestamp was signed, then refused as malformed.
        let signer = Signer::new(Scheme::stripe(), "whsec_0123456789abcdef").unwrap();
        assert!(signer.sign("", header::MAX_TIMESTAMP, b"{}").is_ok());
        for bad in [-1, header::MAX_TIMESTAMP + 1, i64::MAX] {
            assert_eq!(
                signer.sign("", bad, b"{}").unwrap_err(),
                SignError::InvalidTimestamp
            );
        }
    }
}
