//! [`Record`]: an idempotency record as a backend keeps it, and its byte encoding.

use bytes::{BufMut, Bytes, BytesMut};
use hookguard::Timestamp;
use http::{HeaderName, HeaderValue, StatusCode};

use super::{StoreError, Token};

/// The version byte every record starts with.
pub const RECORD_VERSION: u8 = 1;
const IN_PROGRESS: u8 = 1;
const COMPLETED: u8 = 2;
const HEAD: usize = 34;

/// A response kept for replay: status, selected headers and (a bounded) body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredResponse {
    /// The status code.
    pub status: StatusCode,
    /// The headers kept for replay, in order (a name may repeat).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
}

impl StoredResponse {
    /// The most headers a stored response keeps.
    pub const MAX_HEADERS: usize = 64;
    /// The longest header value a stored response keeps, in bytes.
    pub const MAX_HEADER_VALUE: usize = 8 << 10;
    /// The longest body a stored response keeps, in bytes.
    pub const MAX_BODY: usize = 16 << 20;

    /// A response with no headers.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a header (repeating a name keeps both values).
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
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

    /// How many bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| 3 + n.as_str().len() + v.len())
            .sum();
        3 + headers + self.body.len()
    }

    /// Appends the response's encoding (status, headers, body; see [`Record`]) to `out`.
    ///
    /// # Errors
    /// [`StoreError::TooLarge`] if the response passes one of the limits.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), StoreError> {
        self.check_limits()?;
        out.reserve(self.encoded_len());
        out.put_u16(self.status.as_u16());
        // Both fit: checked above.
        #[allow(clippy::cast_possible_truncation)]
        {
            out.put_u8(self.headers.len() as u8);
            for (name, value) in &self.headers {
                out.put_u8(name.as_str().len() as u8);
                out.put_slice(name.as_str().as_bytes());
                out.put_u16(value.len() as u16);
                out.put_slice(value.as_bytes());
            }
        }
        out.put_slice(&self.body);
        Ok(())
    }

    fn check_limits(&self) -> Result<(), StoreError> {
        if self.headers.len() > Self::MAX_HEADERS {
            return Err(StoreError::TooLarge("more than 64 headers"));
        }
        if self.headers.iter().any(|(n, _)| n.as_str().len() > 255) {
            return Err(StoreError::TooLarge("a header name longer than 255 bytes"));
        }
        if self
            .headers
            .iter()
            .any(|(_, v)| v.len() > Self::MAX_HEADER_VALUE)
        {
            return Err(StoreError::TooLarge("a header value longer than 8 KiB"));
        }
        if self.body.len() > Self::MAX_BODY {
            return Err(StoreError::TooLarge("a body longer than 16 MiB"));
        }
        Ok(())
    }

    /// Reads back what [`encode`](Self::encode) wrote; the body and header values share `bytes`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if `bytes` is not such an encoding.
    pub fn decode(bytes: Bytes) -> Result<Self, StoreError> {
        let mut reader = Reader { bytes, pos: 0 };
        let status = StatusCode::from_u16(reader.u16()?)
            .map_err(|_| StoreError::Corrupt("status code out of range"))?;
        let count = reader.u8()?;
        let mut headers = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let len = reader.u8()?;
            let name = HeaderName::from_bytes(&reader.take(usize::from(len))?)
                .map_err(|_| StoreError::Corrupt("invalid header name"))?;
            let len = reader.u16()?;
            let value = HeaderValue::from_maybe_shared(reader.take(usize::from(len))?)
                .map_err(|_| StoreError::Corrupt("invalid header value"))?;
            headers.push((name, value));
        }
        let response = Self {
            status,
            headers,
            body: reader.rest(),
        };
        // What could not have been encoded is not a record either.
        response
            .check_limits()
            .map_err(|_| StoreError::Corrupt("a response past the record limits"))?;
        Ok(response)
    }
}

/// One idempotency record: in progress (held by a token until a lease deadline) or completed.
///
/// Backends that keep blobs (memory, Redis) store the encoding below; a backend with columns (PostgreSQL)
/// may keep the fields in columns and the response alone as [`StoredResponse::encode`]'s bytes.
///
/// ```text
/// offset  size  field
///      0     1  version (1)
///      1     1  state: 1 = in progress, 2 = completed
///      2    32  fingerprint (SHA-256 of the payload)
/// in progress:
///     34    16  token
///     50     8  lease deadline, ms since the Unix epoch (i64, big-endian)
/// completed:
///     34     8  retention deadline, ms since the Unix epoch (i64, big-endian)
///     42     …  the response: status (u16 BE), header count (u8), then per header the name's length (u8),
///               the name, the value's length (u16 BE), the value; then the body, to the end
/// ```
///
/// The fixed offsets let a Lua script or SQL read the state, fingerprint, token and deadline without
/// parsing the response. Limits, checked by [`StoredResponse::encode`]: at most
/// [`MAX_HEADERS`](StoredResponse::MAX_HEADERS) headers, names of at most 255 bytes, values of at most
/// [`MAX_HEADER_VALUE`](StoredResponse::MAX_HEADER_VALUE) bytes, a body of at most
/// [`MAX_BODY`](StoredResponse::MAX_BODY) bytes. Decoding takes [`Bytes`] and slices the body and header
/// values out of it without copying. A value that does not decode (another version, a short or garbled
/// value) is [`StoreError::Corrupt`]; stores treat it as absent, so a corrupt record never blocks its key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// A handler is running for this key.
    InProgress {
        /// The SHA-256 of the payload being handled.
        fingerprint: [u8; 32],
        /// The holder's token.
        token: Token,
        /// When the holder's lease lapses (it may still complete until someone takes over).
        lease_until: Timestamp,
    },
    /// The handler ran; its response is replayed until `expires_at`.
    Completed {
        /// The SHA-256 of the payload that was handled.
        fingerprint: [u8; 32],
        /// When the record stops being replayed.
        expires_at: Timestamp,
        /// The response replayed.
        response: StoredResponse,
    },
}

impl Record {
    /// The payload's fingerprint.
    pub fn fingerprint(&self) -> &[u8; 32] {
        match self {
            Self::InProgress { fingerprint, .. } | Self::Completed { fingerprint, .. } => {
                fingerprint
            }
        }
    }

    /// The record's encoding (see [`Record`]).
    ///
    /// # Errors
    /// [`StoreError::TooLarge`] if a completed record's response passes one of the limits.
    pub fn encode(&self) -> Result<Bytes, StoreError> {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out.freeze())
    }

    /// How many bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::InProgress { .. } => HEAD + 24,
            Self::Completed { response, .. } => HEAD + 8 + response.encoded_len(),
        }
    }

    /// Appends the record's encoding to `out` (a store that keeps more in the same buffer).
    ///
    /// # Errors
    /// [`StoreError::TooLarge`] if a completed record's response passes one of the limits.
    pub fn encode_into(&self, out: &mut BytesMut) -> Result<(), StoreError> {
        match self {
            Self::InProgress {
                fingerprint,
                token,
                lease_until,
            } => {
                out.reserve(HEAD + 24);
                put_head(out, IN_PROGRESS, fingerprint);
                out.put_slice(token.as_bytes());
                out.put_i64(lease_until.as_unix_millis());
            }
            Self::Completed {
                fingerprint,
                expires_at,
                response,
            } => {
                out.reserve(HEAD + 8 + response.encoded_len());
                put_head(out, COMPLETED, fingerprint);
                out.put_i64(expires_at.as_unix_millis());
                response.encode(out)?;
            }
        }
        Ok(())
    }

    /// Reads a record back; a completed record's body and header values share `bytes`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for another version, an unknown state, or a short or garbled value.
    pub fn decode(bytes: Bytes) -> Result<Self, StoreError> {
        let mut reader = Reader { bytes, pos: 0 };
        if reader.u8()? != RECORD_VERSION {
            return Err(StoreError::Corrupt("unknown record version"));
        }
        let state = reader.u8()?;
        let fingerprint: [u8; 32] = reader.array()?;
        match state {
            IN_PROGRESS => {
                let token = Token::from_bytes(reader.array()?);
                let lease_until = Timestamp::from_unix_millis(reader.i64()?);
                if reader.pos != reader.bytes.len() {
                    return Err(StoreError::Corrupt(
                        "trailing bytes after an in-progress record",
                    ));
                }
                Ok(Self::InProgress {
                    fingerprint,
                    token,
                    lease_until,
                })
            }
            COMPLETED => {
                let expires_at = Timestamp::from_unix_millis(reader.i64()?);
                let response = StoredResponse::decode(reader.rest())?;
                Ok(Self::Completed {
                    fingerprint,
                    expires_at,
                    response,
                })
            }
            _ => Err(StoreError::Corrupt("unknown record state")),
        }
    }
}

fn put_head(out: &mut BytesMut, state: u8, fingerprint: &[u8; 32]) {
    out.put_u8(RECORD_VERSION);
    out.put_u8(state);
    out.put_slice(fingerprint);
}

/// A cursor over a record that hands out slices of the same buffer.
struct Reader {
    bytes: Bytes,
    pos: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<Bytes, StoreError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(StoreError::Corrupt("truncated record"))?;
        let out = self.bytes.slice(self.pos..end);
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let bytes = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(&bytes);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, StoreError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, StoreError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn rest(&mut self) -> Bytes {
        let out = self.bytes.slice(self.pos..);
        self.pos = self.bytes.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed() -> Record {
        let response = StoredResponse::new(StatusCode::ACCEPTED, "{\"ok\":true}")
            .with_header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .with_header(HeaderName::from_static("x-a"), HeaderValue::from_static(""))
            .with_header(
                HeaderName::from_static("x-a"),
                HeaderValue::from_static("2"),
            );
        Record::Completed {
            fingerprint: [3; 32],
            expires_at: Timestamp::from_unix_millis(1_700_000_000_123),
            response,
        }
    }

    #[test]
    fn records_round_trip_and_every_cut_is_corrupt() {
        let in_progress = Record::InProgress {
            fingerprint: [9; 32],
            token: Token::from_bytes([4; 16]),
            lease_until: Timestamp::from_unix_millis(-5),
        };
        for record in [in_progress, completed()] {
            let bytes = record.encode().unwrap();
            assert_eq!(Record::decode(bytes.clone()).unwrap(), record);
            let body_len = match &record {
                Record::Completed { response, .. } => response.body.len(),
                Record::InProgress { .. } => 0,
            };
            for cut in 0..bytes.len() - body_len {
                assert!(
                    matches!(
                        Record::decode(bytes.slice(..cut)),
                        Err(StoreError::Corrupt(_))
                    ),
                    "cut at {cut} of {record:?}"
                );
            }
        }
    }

    #[test]
    fn unknown_versions_and_states_are_corrupt() {
        let mut bytes = BytesMut::from(&completed().encode().unwrap()[..]);
        bytes[0] = 2;
        assert!(matches!(
            Record::decode(bytes.clone().freeze()),
            Err(StoreError::Corrupt("unknown record version"))
        ));
        bytes[0] = RECORD_VERSION;
        bytes[1] = 7;
        assert!(matches!(
            Record::decode(bytes.freeze()),
            Err(StoreError::Corrupt("unknown record state"))
        ));
    }

    #[test]
    fn decoding_shares_the_body_instead_of_copying_it() {
        let bytes = completed().encode().unwrap();
        let Record::Completed { response, .. } = Record::decode(bytes.clone()).unwrap() else {
            unreachable!("encoded a completed record")
        };
        let body_start = response.body.as_ptr() as usize - bytes.as_ptr() as usize;
        assert_eq!(body_start, bytes.len() - response.body.len());
    }

    #[test]
    fn limits_are_refused_when_encoding() {
        let mut response = StoredResponse::new(StatusCode::OK, "");
        for _ in 0..=StoredResponse::MAX_HEADERS {
            response = response.with_header(
                HeaderName::from_static("x-many"),
                HeaderValue::from_static("v"),
            );
        }
        let record = Record::Completed {
            fingerprint: [0; 32],
            expires_at: Timestamp::EPOCH,
            response,
        };
        assert!(matches!(record.encode(), Err(StoreError::TooLarge(_))));
        let long = StoredResponse::new(StatusCode::OK, "").with_header(
            HeaderName::from_static("x-long"),
            HeaderValue::from_bytes(&vec![b'v'; StoredResponse::MAX_HEADER_VALUE + 1]).unwrap(),
        );
        assert!(matches!(
            long.encode(&mut BytesMut::new()),
            Err(StoreError::TooLarge(_))
        ));
    }
}
