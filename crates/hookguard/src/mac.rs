//! The bytes a scheme signs, fed in pieces so that nothing is ever concatenated on the verify path.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::scheme::Part;

/// The values that fill a scheme's signed-content template.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Content<'a> {
    pub(crate) id: &'a [u8],
    pub(crate) timestamp: &'a [u8],
    pub(crate) payload: &'a [u8],
}

impl Content<'_> {
    pub(crate) fn feed(&self, parts: &[Part], mut sink: impl FnMut(&[u8])) {
        for part in parts {
            sink(match part {
                Part::Id => self.id,
                Part::Timestamp => self.timestamp,
                Part::Payload => self.payload,
                Part::Literal(bytes) => bytes,
            });
        }
    }

    /// The whole signed content in one buffer, for signers that cannot stream (Ed25519 signing).
    #[cfg(feature = "ed25519")]
    pub(crate) fn to_vec(self, parts: &[Part]) -> Vec<u8> {
        let mut out = Vec::new();
        self.feed(parts, |chunk| out.extend_from_slice(chunk));
        out
    }
}

/// HMAC-SHA256 of the signed content.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[Part], content: &Content<'_>) -> [u8; 32] {
    #[allow(clippy::expect_used)]
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    content.feed(parts, |chunk| mac.update(chunk));
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 of the signed content, starting from a key's precomputed state ([`crate::Secret`]).
pub(crate) fn hmac_sha256_keyed(
    keyed: &Hmac<Sha256>,
    parts: &[Part],
    content: &Content<'_>,
) -> [u8; 32] {
    let mut mac = keyed.clone();
    content.feed(parts, |chunk| mac.update(chunk));
    mac.finalize().into_bytes().into()
}
