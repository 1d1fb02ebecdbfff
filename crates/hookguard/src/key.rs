//! Keys: symmetric secrets and (with the `ed25519` feature) Standard Webhooks' Ed25519 keys.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, KeyInit};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::KeyError;

/// The shortest HMAC key accepted, in bytes. Shorter keys are guessable and every provider issues longer ones.
pub const MIN_SECRET_LEN: usize = 16;

/// A symmetric signing key.
///
/// Its bytes are wiped from memory when it is dropped, and its `Debug` output is `Secret(***)`.
#[derive(Clone)]
pub struct Secret {
    bytes: Zeroizing<Vec<u8>>,
    /// HMAC-SHA256 already keyed with `bytes` (both padded key blocks hashed), cloned for each message so
    /// verifying does not hash the key again. Wiped on drop too (the `zeroize` features of `hmac`/`sha2`).
    keyed: Hmac<Sha256>,
}

impl Secret {
    /// Wraps raw key bytes, refusing empty keys and keys under [`MIN_SECRET_LEN`] bytes.
    ///
    /// # Errors
    /// [`KeyError::Empty`] or [`KeyError::TooShort`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(bytes.into());
        match bytes.len() {
            0 => Err(KeyError::Empty),
            len if len < MIN_SECRET_LEN => Err(KeyError::TooShort {
                len,
                min: MIN_SECRET_LEN,
            }),
            _ => {
                #[allow(clippy::expect_used)]
                let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&bytes)
                    .expect("HMAC takes keys of any length");
                Ok(Self { bytes, keyed })
            }
        }
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// HMAC-SHA256 keyed with this secret, ready to be cloned and fed a message.
    pub(crate) fn keyed(&self) -> &Hmac<Sha256> {
        &self.keyed
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How a scheme reads the key strings its users are given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyFormat {
    /// `whsec_` + base64 (prefix optional, padding optional); `whpk_`/`whsk_` Ed25519 keys.
    StandardWebhooks,
    /// The UTF-8 bytes of the whole string, whatever it looks like (Stripe's `whsec_…` included).
    Raw,
}

pub(crate) const HMAC_PREFIX: &str = "whsec_";
pub(crate) const ED25519_PUBLIC_PREFIX: &str = "whpk_";
pub(crate) const ED25519_SECRET_PREFIX: &str = "whsk_";

/// One key of a [`crate::Verifier`] or [`crate::Signer`].
#[derive(Clone)]
pub(crate) enum Key {
    Hmac(Secret),
    #[cfg(feature = "ed25519")]
    Ed25519Public(ed25519_dalek::VerifyingKey),
    #[cfg(feature = "ed25519")]
    Ed25519Secret(Box<ed25519_dalek::SigningKey>),
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hmac(s) => fmt::Debug::fmt(s, f),
            #[cfg(feature = "ed25519")]
            Self::Ed25519Public(_) => f.write_str("Ed25519PublicKey"),
            #[cfg(feature = "ed25519")]
            Self::Ed25519Secret(_) => f.write_str("Ed25519SecretKey(***)"),
        }
    }
}

/// Built at compile time: constructing the engine's tables on every call showed up on the verify path.
static BASE64: base64::engine::GeneralPurpose = {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
};

fn base64_engine() -> &'static base64::engine::GeneralPurpose {
    &BASE64
}

fn decode_base64(s: &str, prefix: &'static str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    base64_engine()
        .decode(s)
        .map(Zeroizing::new)
        .map_err(|_| KeyError::InvalidBase64 { prefix })
}

impl Key {
    /// Parses a key string the way `format` says.
    pub(crate) fn parse(
        format: KeyFormat,
        scheme: &'static str,
        s: &str,
    ) -> Result<Self, KeyError> {
        let is_ed25519 =
            s.starts_with(ED25519_PUBLIC_PREFIX) || s.starts_with(ED25519_SECRET_PREFIX);
        match format {
            KeyFormat::Raw if is_ed25519 => Err(KeyError::Ed25519NotSupported { scheme }),
            KeyFormat::Raw => Secret::new(s.as_bytes()).map(Self::Hmac),
            KeyFormat::StandardWebhooks if is_ed25519 => Self::parse_ed25519(s),
            KeyFormat::StandardWebhooks => {
                let encoded = s.strip_prefix(HMAC_PREFIX).unwrap_or(s);
                if encoded.is_empty() {
                    return Err(KeyError::Empty);
                }
                let bytes = decode_base64(encoded, HMAC_PREFIX)?;
                Secret::new(bytes.as_slice()).map(Self::Hmac)
            }
        }
    }

    #[cfg(not(feature = "ed25519"))]
    fn parse_ed25519(_: &str) -> Result<Self, KeyError> {
        Err(KeyError::Ed25519Disabled)
    }

    #[cfg(feature = "ed25519")]
    fn parse_ed25519(s: &str) -> Result<Self, KeyError> {
        use ed25519_dalek::{SigningKey, VerifyingKey};
        if let Some(encoded) = s.strip_prefix(ED25519_PUBLIC_PREFIX) {
            let bytes = decode_base64(encoded, ED25519_PUBLIC_PREFIX)?;
            let array: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::InvalidEd25519)?;
            return VerifyingKey::from_bytes(&array)
                .map(Self::Ed25519Public)
                .map_err(|_| KeyError::InvalidEd25519);
        }
        let encoded = s.strip_prefix(ED25519_SECRET_PREFIX).unwrap_or(s);
        let bytes = decode_base64(encoded, ED25519_SECRET_PREFIX)?;
        let seed: Zeroizing<[u8; 32]> = match bytes.len() {
            // The seed alone, or the seed followed by its public key.
            32 | 64 => Zeroizing::new(
                bytes[..32]
                    .try_into()
                    .map_err(|_| KeyError::InvalidEd25519)?,
            ),
            _ => return Err(KeyError::InvalidEd25519),
        };
        let key = SigningKey::from_bytes(&seed);
        if bytes.len() == 64 && key.verifying_key().as_bytes()[..] != bytes[32..] {
            return Err(KeyError::InvalidEd25519);
        }
        Ok(Self::Ed25519Secret(Box::new(key)))
    }

    /// The HMAC secret's bytes, if this is an HMAC key.
    pub(crate) fn hmac_secret(&self) -> Option<&[u8]> {
        match self {
            Self::Hmac(secret) => Some(secret.expose()),
            #[cfg(feature = "ed25519")]
            Self::Ed25519Secret(_) | Self::Ed25519Public(_) => None,
        }
    }

    /// Whether this key can produce signatures (a public key cannot).
    pub(crate) fn can_sign(&self) -> bool {
        match self {
            Self::Hmac(_) => true,
            #[cfg(feature = "ed25519")]
            Self::Ed25519Secret(_) => true,
            #[cfg(feature = "ed25519")]
            Self::Ed25519Public(_) => false,
        }
    }
}

/// The base64 engine every scheme encodes with (standard alphabet, padded) and decodes with (padding optional).
pub(crate) fn base64() -> &'static base64::engine::GeneralPurpose {
    base64_engine()
}
