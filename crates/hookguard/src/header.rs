//! Parsing of every scheme's headers, in one place.
//!
//! These functions take untrusted bytes, never allocate and never panic; the fuzz targets call them
//! directly, which is why the module is public but hidden from the documentation.

use base64::Engine as _;

use crate::key;
use crate::scheme::Encoding;

/// At most this many signature entries are examined per request, however many the header holds.
pub const MAX_CANDIDATES: usize = 16;

/// The longest timestamp accepted, in digits: 18 digits always fit an `i64`.
const MAX_TIMESTAMP_DIGITS: usize = 18;

/// The largest timestamp [`timestamp`] reads (18 nines); signers refuse to write larger ones.
pub const MAX_TIMESTAMP: i64 = 999_999_999_999_999_999;

/// The kind of signature a candidate claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// A 32-byte HMAC-SHA256 tag.
    HmacSha256,
    /// A 64-byte Ed25519 signature (Standard Webhooks `v1a`).
    Ed25519,
}

impl Algorithm {
    /// The length of this kind of signature in bytes.
    #[must_use]
    pub const fn signature_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
            Self::Ed25519 => 64,
        }
    }
}

/// One decoded signature taken from a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// What kind of signature this is.
    pub algorithm: Algorithm,
    bytes: [u8; 64],
}

impl Candidate {
    /// The decoded signature bytes; exactly [`Algorithm::signature_len`] of them.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.signature_len()]
    }

    /// Decodes `text` as a signature of `algorithm`; `None` unless it decodes to exactly the right length.
    #[must_use]
    pub fn decode(algorithm: Algorithm, text: &[u8], encoding: Encoding) -> Option<Self> {
        let len = algorithm.signature_len();
        let mut bytes = [0u8; 64];
        match encoding {
            Encoding::Hex => hex::decode_to_slice(text, &mut bytes[..len]).ok()?,
            Encoding::Base64 => {
                // Refuse over-long input before decoding; base64 of 64 bytes is 88 characters.
                if text.len() > 4 * len.div_ceil(3) {
                    return None;
                }
                let mut buf = [0u8; 72];
                let n = key::base64().decode_slice(text, &mut buf).ok()?;
                if n != len {
                    return None;
                }
                bytes[..len].copy_from_slice(&buf[..len]);
            }
        }
        Some(Self { algorithm, bytes })
    }
}

/// A fixed-capacity list of candidates (no heap).
#[derive(Clone, Debug)]
pub struct Candidates {
    items: [Option<Candidate>; MAX_CANDIDATES],
    len: usize,
}

impl Default for Candidates {
    fn default() -> Self {
        Self {
            items: [None; MAX_CANDIDATES],
            len: 0,
        }
    }
}

impl Candidates {
    /// Adds a candidate; beyond [`MAX_CANDIDATES`] it is dropped.
    pub fn push(&mut self, candidate: Candidate) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(candidate);
            self.len += 1;
        }
    }

    /// The candidates, in header order.
    pub fn iter(&self) -> impl Iterator<Item = &Candidate> {
        self.items[..self.len].iter().flatten()
    }

    /// How many candidates were found.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry parsed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl From<Option<Candidate>> for Candidates {
    fn from(candidate: Option<Candidate>) -> Self {
        let mut all = Self::default();
        if let Some(c) = candidate {
            all.push(c);
        }
        all
    }
}

/// A Standard Webhooks `webhook-signature` value: space-separated `version,base64` entries. Unknown versions
/// and malformed entries are skipped; only the first [`MAX_CANDIDATES`] entries are looked at.
#[must_use]
pub fn standard_webhooks(value: &[u8]) -> Candidates {
    let mut found = Candidates::default();
    standard_webhooks_into(value, &mut found);
    found
}

/// [`standard_webhooks`], into a list the caller holds (the verifier's, so that 1 KiB of candidates is not
/// moved around on every request).
pub fn standard_webhooks_into(value: &[u8], found: &mut Candidates) {
    for entry in value
        .split(|&b| b == b' ')
        .filter(|e| !e.is_empty())
        .take(MAX_CANDIDATES)
    {
        let Some(comma) = entry.iter().position(|&b| b == b',') else {
            continue;
        };
        let (version, signature) = (&entry[..comma], &entry[comma + 1..]);
        let algorithm = match version {
            b"v1" => Algorithm::HmacSha256,
            b"v1a" => Algorithm::Ed25519,
            _ => continue,
        };
        if let Some(c) = Candidate::decode(algorithm, signature, Encoding::Base64) {
            found.push(c);
        }
    }
}

/// A parsed `Stripe-Signature` header.
#[derive(Clone, Debug)]
pub struct StripeHeader<'a> {
    /// The `t=` value, checked to be a timestamp.
    pub timestamp: &'a [u8],
    /// The `v1=` signatures (`v0` and unknown schemes are ignored).
    pub signatures: Candidates,
}

/// A `Stripe-Signature` value: `t=…,v1=…[,v1=…][,v0=…]`. `None` when there is no `t`, more than one, or a
/// `t` that is not a timestamp.
#[must_use]
pub fn stripe(value: &[u8]) -> Option<StripeHeader<'_>> {
    let mut signatures = Candidates::default();
    let (timestamp, _) = stripe_into(value, &mut signatures)?;
    Some(StripeHeader {
        timestamp,
        signatures,
    })
}

/// [`stripe`], with the signatures pushed onto a list the caller holds; returns the `t=` value as text and
/// as a number.
pub fn stripe_into<'v>(value: &'v [u8], signatures: &mut Candidates) -> Option<(&'v [u8], i64)> {
    let mut timestamp_value = None;
    let mut repeated_timestamp = false;
    // Bound the work: a timestamp, some v0 entries and up to MAX_CANDIDATES v1 entries.
    for item in value.split(|&b| b == b',').take(2 * MAX_CANDIDATES + 1) {
        let item = item.trim_ascii();
        let Some(eq) = item.iter().position(|&b| b == b'=') else {
            continue;
        };
        match (&item[..eq], &item[eq + 1..]) {
            (b"t", t) => repeated_timestamp |= timestamp_value.replace(t).is_some(),
            (b"v1", sig) => {
                if let Some(c) = Candidate::decode(Algorithm::HmacSha256, sig, Encoding::Hex) {
                    signatures.push(c);
                }
            }
            _ => {}
        }
    }
    let t = timestamp_value.filter(|_| !repeated_timestamp)?;
    Some((t, timestamp(t)?))
}

/// A header holding one HMAC-SHA256 signature after a fixed prefix (GitHub, Slack, Shopify, custom schemes).
#[must_use]
pub fn single(value: &[u8], prefix: &[u8], encoding: Encoding) -> Option<Candidate> {
    let encoded = value.trim_ascii().strip_prefix(prefix)?;
    Candidate::decode(Algorithm::HmacSha256, encoded, encoding)
}

/// A Unix timestamp in seconds: 1 to 18 ASCII digits, nothing else.
#[must_use]
pub fn timestamp(value: &[u8]) -> Option<i64> {
    if value.is_empty() || value.len() > MAX_TIMESTAMP_DIGITS {
        return None;
    }
    value.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(b"1614265330"), Some(1_614_265_330));
        assert_eq!(timestamp(b"0"), Some(0));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1.5",
            b" 1",
            b"1234567890123456789",
            b"12a",
        ] {
            assert_eq!(timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn standard_webhooks_skips_unknown_and_malformed_entries() {
        let v1 = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let header = format!("v2,abc v1,!!! v1 {v1}  v1,Zm9v");
        let found = standard_webhooks(header.as_bytes());
        assert_eq!(found.len(), 1);
        let unpadded = standard_webhooks(v1.trim_end_matches('=').as_bytes());
        assert_eq!(unpadded.iter().next(), found.iter().next());
    }

    #[test]
    fn standard_webhooks_examines_at_most_sixteen_entries() {
        let v1 = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let header = vec![v1; 40].join(" ");
        assert_eq!(standard_webhooks(header.as_bytes()).len(), MAX_CANDIDATES);
        let late = format!("{} {v1}", vec!["v9,x"; 16].join(" "));
        assert!(standard_webhooks(late.as_bytes()).is_empty());
    }

    #[test]
    fn stripe_header() {
        let sig = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
        let header = format!(
            "t=1492774577,v1={sig},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
        );
        let parsed = stripe(header.as_bytes()).unwrap();
        assert_eq!(parsed.timestamp, b"1492774577");
        assert_eq!(parsed.signatures.len(), 1);
        assert!(stripe(format!("v1={sig}").as_bytes()).is_none());
        assert!(stripe(b"t=1,t=2").is_none());
        assert!(stripe(b"t=abc").is_none());
        assert!(stripe(b"t=1,v0=00").unwrap().signatures.is_empty());
    }

    #[test]
    fn single_signature() {
        let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(
            single(
                format!("sha256={hex}").as_bytes(),
                b"sha256=",
                Encoding::Hex
            )
            .is_some()
        );
        assert!(single(format!("sha1={hex}").as_bytes(), b"sha256=", Encoding::Hex).is_none());
        assert!(
            single(
                format!("sha256={}", &hex[2..]).as_bytes(),
                b"sha256=",
                Encoding::Hex
            )
            .is_none()
        );
        assert!(single(b"\xff\xfe", b"", Encoding::Base64).is_none());
    }
}
