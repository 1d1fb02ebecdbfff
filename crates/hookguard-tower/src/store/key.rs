//! [`IdempotencyKey`] and [`Token`]: what a record is found by, and the proof of holding it.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// The key one delivery is deduplicated by, e.g. `"standard-webhooks:msg_2Lh…"`. Cloning is cheap.
///
/// A key longer than [`MAX_LEN`](Self::MAX_LEN) bytes, or holding a control character, is replaced by
/// `"sha256:"` and the hex SHA-256 of its bytes, so that no backend meets a key its index cannot hold (a
/// PostgreSQL btree entry, a Redis key a human can read in `redis-cli`) and a log line cannot be forged
/// through a key. Two distinct keys stay distinct.
///
/// ```
/// use hookguard_tower::store::IdempotencyKey;
///
/// assert_eq!(IdempotencyKey::new("github:5f1c").as_str(), "github:5f1c");
/// let long = IdempotencyKey::new("x".repeat(300));
/// assert!(long.as_str().starts_with("sha256:"));
/// assert_eq!(long.as_str().len(), 7 + 64);
/// assert_ne!(IdempotencyKey::new("a\nb"), IdempotencyKey::new("a b"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(Arc<str>);

impl IdempotencyKey {
    /// The longest key kept as it is, in bytes.
    pub const MAX_LEN: usize = 256;

    /// Wraps a key, hashing it if it is too long or holds a control character.
    pub fn new(key: impl Into<String>) -> Self {
        Self::of(&key.into())
    }

    /// [`new`](Self::new) on a borrowed key: the key is copied once, into its shared allocation.
    pub(crate) fn of(key: &str) -> Self {
        let control = if key.is_ascii() {
            key.bytes().any(|b| b.is_ascii_control())
        } else {
            key.chars().any(char::is_control)
        };
        if key.len() <= Self::MAX_LEN && !control {
            return Self(Arc::from(key));
        }
        let digest = Sha256::digest(key.as_bytes());
        Self(Arc::from(format!("sha256:{}", hex::encode(digest))))
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<String> for IdempotencyKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

impl From<&str> for IdempotencyKey {
    fn from(key: &str) -> Self {
        Self::of(key)
    }
}

/// Proof of holding an in-progress record: 16 random bytes, new for every successful claim.
///
/// Its Debug output is redacted: whoever has the token can complete or release the record.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token([u8; 16]);

impl Token {
    /// A fresh random token.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// A token from its bytes (for stores reading one back).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The token's bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_at_the_limit_are_kept_and_longer_or_control_ones_hashed() {
        let at_limit = "k".repeat(IdempotencyKey::MAX_LEN);
        assert_eq!(IdempotencyKey::new(at_limit.clone()).as_str(), at_limit);
        let over = IdempotencyKey::new("k".repeat(IdempotencyKey::MAX_LEN + 1));
        assert!(over.as_str().starts_with("sha256:"), "{over}");
        for control in ["a\u{0}b", "a\rb", "a\u{7f}", "a\u{85}b"] {
            let key = IdempotencyKey::new(control);
            assert!(
                key.as_str().starts_with("sha256:"),
                "{control:?} kept as {key}"
            );
        }
        // Unicode and punctuation that backends handle stay readable.
        let plain = "stripe:{évt}*:ü";
        assert_eq!(IdempotencyKey::new(plain).as_str(), plain);
    }

    #[test]
    fn tokens_are_random_and_redacted_in_debug() {
        let (a, b) = (Token::random(), Token::random());
        assert_ne!(a, b);
        let t = Token::from_bytes([0xab; 16]);
        assert_eq!(format!("{t:?}"), "Token(***)");
        assert!(!format!("{:?}", Some(t)).contains("ab"));
    }
}
