//! Idempotency records: the [`IdempotencyStore`] contract and its in-memory backend.
//!
//! A record moves through three states. [`claim`](IdempotencyStore::claim) creates it *in progress*, held by
//! a fresh [`Token`] for the length of a lease; [`complete`](IdempotencyStore::complete) turns it into a
//! *completed* record that replays the handler's response until the retention runs out;
//! [`release`](IdempotencyStore::release) deletes it so the next delivery runs the handler again. A record
//! whose lease lapsed (its holder crashed) is taken over by the next claim, with a new token; the old
//! holder's `complete` then fails with [`StoreError::LeaseLost`].
//!
//! Every record carries the SHA-256 of the payload that created it: a claim for the same key with another
//! payload gets [`Claim::Mismatch`], whether the record is in progress or completed.

mod boxed;
mod memory;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

pub use self::boxed::BoxedStore;
pub use self::memory::MemoryStore;

/// The key one delivery is deduplicated by, e.g. `"standard-webhooks:msg_2Lh…"`. Cloning is cheap.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(Arc<str>);

impl IdempotencyKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Arc::from(key.into()))
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
        Self::new(key)
    }
}

/// Proof of holding an in-progress record: 16 random bytes, new for every successful claim.
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
        f.write_str("Token(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// What a [`claim`](IdempotencyStore::claim) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// No live record: one was created, held by this token. Run the handler.
    Acquired(Token),
    /// Another delivery with the same payload holds the record; try again after about `retry_after`.
    InProgress {
        /// Time left on the holder's lease (at least one second).
        retry_after: Duration,
    },
    /// The handler already ran for this payload: replay its response.
    Completed(StoredResponse),
    /// A record with this key exists (in progress or completed) for a different payload.
    Mismatch,
}

/// A response kept for replay: status, selected headers and (a bounded) body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    /// The status code.
    pub status: StatusCode,
    /// The headers kept for replay, in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
}

impl StoredResponse {
    /// A response with no headers.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Builds the replayed response.
    pub fn to_response(&self) -> http::Response<Bytes> {
        let mut res = http::Response::new(self.body.clone());
        *res.status_mut() = self.status;
        for (name, value) in &self.headers {
            res.headers_mut().append(name.clone(), value.clone());
        }
        res
    }

    /// Serialises the response into a compact byte string (for stores that keep blobs).
    ///
    /// Layout: status (u16 BE), header count (u32 BE), then for each header the name and the value as
    /// u32-BE-length-prefixed bytes, then the body to the end.
    pub fn encode(&self) -> Vec<u8> {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| 8 + n.as_str().len() + v.len())
            .sum();
        let mut out = Vec::with_capacity(6 + headers + self.body.len());
        out.extend_from_slice(&self.status.as_u16().to_be_bytes());
        out.extend_from_slice(&len_u32(self.headers.len()).to_be_bytes());
        for (name, value) in &self.headers {
            for part in [name.as_str().as_bytes(), value.as_bytes()] {
                out.extend_from_slice(&len_u32(part.len()).to_be_bytes());
                out.extend_from_slice(part);
            }
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads back what [`encode`](Self::encode) wrote.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let mut rest = bytes;
        let status = take(&mut rest, 2)?;
        let status = StatusCode::from_u16(u16::from_be_bytes([status[0], status[1]]))
            .map_err(|_| StoreError::Corrupt("status code out of range"))?;
        let count = take_u32(&mut rest)?;
        let mut headers = Vec::new();
        for _ in 0..count {
            let len = take_u32(&mut rest)?;
            let name = HeaderName::from_bytes(take(&mut rest, len)?)
                .map_err(|_| StoreError::Corrupt("invalid header name"))?;
            let len = take_u32(&mut rest)?;
            let value = HeaderValue::from_bytes(take(&mut rest, len)?)
                .map_err(|_| StoreError::Corrupt("invalid header value"))?;
            headers.push((name, value));
        }
        Ok(Self {
            status,
            headers,
            body: Bytes::copy_from_slice(rest),
        })
    }
}

fn len_u32(len: usize) -> u32 {
    // Header names, values and counts are far below 4 GiB; saturate rather than wrap if not.
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], StoreError> {
    if rest.len() < n {
        return Err(StoreError::Corrupt("truncated response record"));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_u32(rest: &mut &[u8]) -> Result<usize, StoreError> {
    let b = take(rest, 4)?;
    usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .map_err(|_| StoreError::Corrupt("length out of range"))
}

/// A boxed error from a store's backend.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record no longer holds this token: its lease lapsed and another delivery took it over, or it was
    /// released or already completed.
    #[error("the idempotency record is no longer held by this token")]
    LeaseLost,
    /// The store holds as many live records as it may; the claim was refused rather than growing.
    #[error("the idempotency store is full ({capacity} live records)")]
    Full {
        /// The store's capacity in records.
        capacity: usize,
    },
    /// The backend could not be reached or failed.
    #[error("the idempotency store is unavailable")]
    Unavailable(#[source] BoxError),
    /// A record read back from the backend could not be decoded.
    #[error("corrupt idempotency record: {0}")]
    Corrupt(&'static str),
}

impl StoreError {
    /// Wraps a backend error as [`StoreError::Unavailable`].
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::Unavailable(source.into())
    }
}

/// Where idempotency records live.
///
/// Methods return `impl Future + Send` (no `async_trait`); [`BoxedStore`] erases the type where a run-time
/// choice of backend is needed. Implementations must be safe to share across tasks: the contract below must
/// hold under any interleaving of calls, across processes for shared backends.
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `key` for a payload with this SHA-256 `fingerprint`, holding it for `lease`.
    ///
    /// - no record, or an in-progress record whose lease lapsed → a new record held by a new token,
    ///   [`Claim::Acquired`];
    /// - a record with another fingerprint (in progress or completed) → [`Claim::Mismatch`];
    /// - a live in-progress record → [`Claim::InProgress`];
    /// - a completed record within its retention → [`Claim::Completed`].
    fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Completes the record with `response`, kept for `retention`; succeeds iff the record is in progress
    /// and still holds `token` (even if its lease lapsed, as long as no one took it over). Otherwise
    /// [`StoreError::LeaseLost`].
    fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the record iff it is in progress and holds `token`; a no-op otherwise.
    fn release(
        &self,
        key: &IdempotencyKey,
        token: &Token,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_response_round_trips_through_encode() {
        let mut res = StoredResponse::new(StatusCode::ACCEPTED, "{\"ok\":true}");
        res.headers.push((
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        res.headers
            .push((HeaderName::from_static("x-a"), HeaderValue::from_static("")));
        let bytes = res.encode();
        assert_eq!(StoredResponse::decode(&bytes).unwrap(), res);
        for cut in 0..bytes.len() - res.body.len() {
            assert!(
                StoredResponse::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn tokens_are_random_and_debug_as_hex() {
        let (a, b) = (Token::random(), Token::random());
        assert_ne!(a, b);
        let t = Token::from_bytes([0xab; 16]);
        assert_eq!(format!("{t:?}"), format!("Token({})", "ab".repeat(16)));
    }
}
