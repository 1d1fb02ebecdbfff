//! [`AdminToken`]: the bearer token, kept only as its SHA-256 digest and compared in constant time.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The shortest token accepted, in bytes: a guessable token would make the constant-time compare moot.
pub const MIN_TOKEN_LEN: usize = 16;

/// The longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 1024;

/// The admin API's bearer token (and the operator page's login secret).
///
/// Only its SHA-256 digest is kept (wiped on drop); a presented token is hashed too and the two digests are
/// compared with [`subtle`]'s constant-time equality, so neither the content nor the length of the real token
/// shows in the time a check takes. `Debug` prints `AdminToken(***)`.
///
/// ```
/// use hookguard_sender::admin::AdminToken;
/// let token = AdminToken::new("s3cr3t-operator-token-0123")?;
/// assert!(token.matches(b"s3cr3t-operator-token-0123"));
/// assert!(!token.matches(b"s3cr3t-operator-token-012"));
/// assert_eq!(format!("{token:?}"), "AdminToken(***)");
/// assert!(AdminToken::new("short").is_err());
/// # Ok::<(), hookguard_sender::admin::AdminTokenError>(())
/// ```
#[derive(Clone)]
pub struct AdminToken {
    digest: Zeroizing<[u8; 32]>,
}

/// An [`AdminToken`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminTokenError {
    /// Shorter than [`MIN_TOKEN_LEN`] bytes.
    #[error("the admin token must be at least {MIN_TOKEN_LEN} bytes long")]
    TooShort,
    /// Longer than [`MAX_TOKEN_LEN`] bytes.
    #[error("the admin token must be at most {MAX_TOKEN_LEN} bytes long")]
    TooLong,
    /// It has characters that cannot travel in an `Authorization` header (controls, spaces, non-ASCII).
    #[error("the admin token must be visible ASCII without spaces")]
    InvalidCharacters,
}

impl AdminToken {
    /// A token from the operator's configuration (`MIN_TOKEN_LEN`..=`MAX_TOKEN_LEN` visible ASCII bytes).
    /// The string is wiped once hashed.
    ///
    /// # Errors
    /// An [`AdminTokenError`] saying which rule the token breaks.
    pub fn new(token: impl Into<String>) -> Result<Self, AdminTokenError> {
        let token = Zeroizing::new(token.into());
        if token.len() < MIN_TOKEN_LEN {
            return Err(AdminTokenError::TooShort);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(AdminTokenError::TooLong);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AdminTokenError::InvalidCharacters);
        }
        Ok(Self {
            digest: digest(token.as_bytes()),
        })
    }

    /// Whether `candidate` is the token, in time independent of where they differ and of either length.
    #[must_use]
    pub fn matches(&self, candidate: &[u8]) -> bool {
        digest(candidate).ct_eq(&*self.digest).into()
    }
}

fn digest(bytes: &[u8]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(Sha256::digest(bytes).into())
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(
            AdminToken::new("a".repeat(15)).unwrap_err(),
            AdminTokenError::TooShort
        );
        assert_eq!(
            AdminToken::new("a".repeat(1025)).unwrap_err(),
            AdminTokenError::TooLong
        );
        assert_eq!(
            AdminToken::new("with a space in it").unwrap_err(),
            AdminTokenError::InvalidCharacters
        );
        let t = AdminToken::new("a".repeat(16)).unwrap();
        assert!(t.matches("a".repeat(16).as_bytes()));
        assert!(!t.matches("a".repeat(17).as_bytes()));
        assert!(!t.matches(b""));
    }
}
