//! [`Verifier`]: checks a request's signature and timestamp against one or more keys.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::clock::{Clock, SystemClock};
use crate::error::{KeyError, VerifyError};
#[cfg(feature = "ed25519")]
use crate::header::Candidate;
use crate::header::{self, Algorithm, Candidates};
use crate::key::Key;
use crate::mac::{self, Content};
use crate::scheme::{Part, Scheme, SchemeDef, SignatureFormat, TimestampSource};

/// The default tolerance for timestamps, in both directions: five minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Verifies incoming webhooks for one scheme against one or more keys.
///
/// Several keys may be active at once while a secret is being rotated; a request passes if any of its
/// signatures matches any key, and [`Verified::key_index`] tells which key it was. Every candidate signature is
/// compared with every key in constant time. Verifying does not allocate.
///
/// Cheap to clone; `Send + Sync`.
///
/// ```
/// use hookguard::{FixedClock, Scheme, Signer, Verifier};
///
/// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// let headers = Signer::new(Scheme::standard_webhooks(), secret)?.sign("msg_1", 1_700_000_000, b"{}")?;
///
/// let verifier = Verifier::new(Scheme::standard_webhooks(), secret)?.with_clock(FixedClock(1_700_000_010));
/// let verified = verifier.verify(&headers, b"{}")?;
/// assert_eq!(verified.id(), Some("msg_1"));
/// assert_eq!(verifier.verify(&headers, b"{ }").unwrap_err(), hookguard::VerifyError::SignatureMismatch);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Security
/// Keep the tolerance short: it is the window in which a captured request can be replayed. Deduplicate event
/// ids (`hookguard-tower`'s idempotency) to close that window entirely.
#[derive(Clone, Debug)]
pub struct Verifier {
    scheme: Scheme,
    keys: Arc<Vec<Key>>,
    tolerance_secs: i64,
    check_timestamp: bool,
    clock: Arc<dyn Clock>,
}

impl Verifier {
    /// A verifier for `scheme` with one key, in the scheme's key format (`whsec_…` for Standard Webhooks, the
    /// plain secret for the others; `whpk_…` public keys with the `ed25519` feature).
    ///
    /// # Errors
    /// A [`KeyError`] if the key cannot be read or is too short.
    pub fn new(scheme: Scheme, secret: &str) -> Result<Self, KeyError> {
        let key = Key::parse(scheme.def.keys, scheme.name(), secret)?;
        Ok(Self {
            scheme,
            keys: Arc::new(vec![key]),
            tolerance_secs: duration_secs(DEFAULT_TOLERANCE),
            check_timestamp: true,
            clock: Arc::new(SystemClock),
        })
    }

    /// Adds another key that is accepted too (for rotation); its index is the number of keys before it.
    ///
    /// # Errors
    /// A [`KeyError`] if the key cannot be read or is too short.
    pub fn with_secret(mut self, secret: &str) -> Result<Self, KeyError> {
        let key = Key::parse(self.scheme.def.keys, self.scheme.name(), secret)?;
        Arc::make_mut(&mut self.keys).push(key);
        Ok(self)
    }

    /// How far a timestamp may lie in the past or the future (default five minutes). Schemes without a
    /// timestamp (GitHub, Shopify) ignore it.
    #[must_use]
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance_secs = duration_secs(tolerance);
        self
    }

    /// Accepts any timestamp, however old. Only for replaying recorded requests in tests or tools: in
    /// production it lets a captured request be replayed forever.
    #[must_use]
    pub fn with_insecure_skip_timestamp_check(mut self) -> Self {
        self.check_timestamp = false;
        self
    }

    /// Reads the current time from `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// This verifier's clock (the one [`with_clock`](Self::with_clock) set). The receiver's layer and its
    /// idempotency store read the same clock, so one test clock drives them all.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The scheme this verifier checks.
    #[must_use]
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// How many keys this verifier accepts.
    #[must_use]
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Checks `payload` (the raw body, byte for byte) against the signature in `headers`.
    ///
    /// # Errors
    /// [`VerifyError::MissingHeader`] or [`VerifyError::MalformedHeader`] when the request cannot be read
    /// (answer 400), [`VerifyError::SignatureMismatch`], [`VerifyError::TimestampTooOld`] or
    /// [`VerifyError::TimestampTooNew`] when it is refused (answer 401).
    pub fn verify<'h>(
        &self,
        headers: &'h HeaderMap,
        payload: &[u8],
    ) -> Result<Verified<'h>, VerifyError> {
        let def = &*self.scheme.def;
        let (names, signature) = HeaderNames::resolve(def, headers)?;
        let id = read_id(def, &names, headers)?;
        // Filled in place: the list is 1 KiB, and moving it costs as much as a header lookup.
        let mut candidates = Candidates::default();
        let timestamp = match &def.format {
            SignatureFormat::Stripe => Some(
                header::stripe_into(signature.as_bytes(), &mut candidates)
                    .ok_or_else(|| VerifyError::MalformedHeader(names.signature.clone()))?,
            ),
            SignatureFormat::StandardWebhooks => {
                header::standard_webhooks_into(signature.as_bytes(), &mut candidates);
                read_timestamp(&names, headers)?
            }
            SignatureFormat::Single { prefix, encoding } => {
                if let Some(c) = header::single(signature.as_bytes(), prefix.as_bytes(), *encoding)
                {
                    candidates.push(c);
                }
                read_timestamp(&names, headers)?
            }
        };
        if candidates.is_empty() {
            return Err(VerifyError::MalformedHeader(names.signature.clone()));
        }
        if let Some((_, ts)) = timestamp {
            self.check_tolerance(ts)?;
        }
        let content = Content {
            id: id.map_or(&[][..], str::as_bytes),
            timestamp: timestamp.map_or(&[][..], |(text, _)| text),
            payload,
        };
        let key_index = self
            .match_key(&def.content, &content, &candidates)
            .ok_or(VerifyError::SignatureMismatch)?;
        Ok(Verified {
            id: id.map(Cow::Borrowed),
            id_signed: def.signs(&Part::Id),
            timestamp: timestamp.map(|(_, ts)| ts),
            key_index,
            scheme: def.name,
        })
    }

    fn check_tolerance(&self, timestamp: i64) -> Result<(), VerifyError> {
        if !self.check_timestamp {
            return Ok(());
        }
        let now = self.clock.now_unix();
        if timestamp < now.saturating_sub(self.tolerance_secs) {
            Err(VerifyError::TimestampTooOld)
        } else if timestamp > now.saturating_add(self.tolerance_secs) {
            Err(VerifyError::TimestampTooNew)
        } else {
            Ok(())
        }
    }

    /// The index of a key that some candidate matches. Every candidate is compared with every key of its
    /// kind, without stopping at the first match, so the time taken says nothing about which one matched.
    fn match_key(
        &self,
        parts: &[Part],
        content: &Content<'_>,
        candidates: &Candidates,
    ) -> Option<usize> {
        let mut matched = Choice::from(0);
        let mut index = 0u32;
        for (i, key) in self.keys.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let mut record = |hit: Choice| {
                index.conditional_assign(&i, hit & !matched);
                matched |= hit;
            };
            match key {
                Key::Hmac(secret) => {
                    let expected = mac::hmac_sha256_keyed(secret.keyed(), parts, content);
                    for c in candidates
                        .iter()
                        .filter(|c| c.algorithm == Algorithm::HmacSha256)
                    {
                        record(c.bytes().ct_eq(&expected));
                    }
                }
                #[cfg(feature = "ed25519")]
                Key::Ed25519Public(public) => {
                    for c in candidates
                        .iter()
                        .filter(|c| c.algorithm == Algorithm::Ed25519)
                    {
                        record(Choice::from(u8::from(ed25519_matches(
                            public, c, parts, content,
                        ))));
                    }
                }
                #[cfg(feature = "ed25519")]
                Key::Ed25519Secret(secret) => {
                    let public = secret.verifying_key();
                    for c in candidates
                        .iter()
                        .filter(|c| c.algorithm == Algorithm::Ed25519)
                    {
                        record(Choice::from(u8::from(ed25519_matches(
                            &public, c, parts, content,
                        ))));
                    }
                }
            }
        }
        bool::from(matched).then(|| usize::try_from(index).unwrap_or(usize::MAX))
    }
}

#[cfg(feature = "ed25519")]
fn ed25519_matches(
    public: &ed25519_dalek::VerifyingKey,
    candidate: &Candidate,
    parts: &[Part],
    content: &Content<'_>,
) -> bool {
    let Ok(bytes) = <[u8; 64]>::try_from(candidate.bytes()) else {
        return false;
    };
    let Ok(mut stream) = public.verify_stream(&ed25519_dalek::Signature::from_bytes(&bytes)) else {
        return false;
    };
    content.feed(parts, |chunk| stream.update(chunk));
    stream.finalize_and_verify().is_ok()
}

fn duration_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The header names in force for one request (Standard Webhooks requests may use Svix's names).
struct HeaderNames<'a> {
    signature: &'a HeaderName,
    id: Option<&'a HeaderName>,
    id_fallback: Option<&'a HeaderName>,
    timestamp: Option<&'a HeaderName>,
}

impl<'a> HeaderNames<'a> {
    /// The names in force for this request, with its one signature value. Each header is looked up once:
    /// the alternate names only when the scheme's own signature header is absent.
    fn resolve<'h>(
        def: &'a SchemeDef,
        headers: &'h HeaderMap,
    ) -> Result<(Self, &'h HeaderValue), VerifyError> {
        if let Some(value) = single(headers, &def.signature)? {
            let timestamp = match &def.timestamp {
                TimestampSource::Header(name) => Some(name),
                TimestampSource::None | TimestampSource::InSignature => None,
            };
            let names = Self {
                signature: &def.signature,
                id: def.id.as_ref(),
                id_fallback: def.id_fallback.as_ref(),
                timestamp,
            };
            return Ok((names, value));
        }
        let missing = || VerifyError::MissingHeader(def.signature.clone());
        let alt = def.alternate.as_ref().ok_or_else(missing)?;
        let value = single(headers, &alt.signature)?.ok_or_else(missing)?;
        let names = Self {
            signature: &alt.signature,
            id: Some(&alt.id),
            id_fallback: None,
            timestamp: Some(&alt.timestamp),
        };
        Ok((names, value))
    }
}

/// The single value of `name`: `None` when absent, malformed when sent more than once.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h HeaderValue>, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(VerifyError::MalformedHeader(name.clone()));
    }
    Ok(first)
}

fn required<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<&'h HeaderValue, VerifyError> {
    single(headers, name)?.ok_or_else(|| VerifyError::MissingHeader(name.clone()))
}

fn read_id<'h>(
    def: &SchemeDef,
    names: &HeaderNames<'_>,
    headers: &'h HeaderMap,
) -> Result<Option<&'h str>, VerifyError> {
    let Some(primary) = names.id else {
        return Ok(None);
    };
    let (name, value) = match (single(headers, primary)?, names.id_fallback) {
        (Some(v), _) => (primary, v),
        (None, Some(fallback)) => match single(headers, fallback)? {
            Some(v) => (fallback, v),
            None => return missing_id(def, primary),
        },
        (None, None) => return missing_id(def, primary),
    };
    match value.to_str() {
        Ok(id) if !id.is_empty() => Ok(Some(id)),
        _ => Err(VerifyError::MalformedHeader(name.clone())),
    }
}

fn missing_id<T>(def: &SchemeDef, name: &HeaderName) -> Result<Option<T>, VerifyError> {
    // An id that is part of the signed content is required; an informational one is optional.
    if def.signs(&Part::Id) {
        Err(VerifyError::MissingHeader(name.clone()))
    } else {
        Ok(None)
    }
}

/// The timestamp header, as its text (which is signed) and its value.
fn read_timestamp<'h>(
    names: &HeaderNames<'_>,
    headers: &'h HeaderMap,
) -> Result<Option<(&'h [u8], i64)>, VerifyError> {
    let Some(name) = names.timestamp else {
        return Ok(None);
    };
    let text = required(headers, name)?.as_bytes();
    match header::timestamp(text) {
        Some(value) => Ok(Some((text, value))),
        None => Err(VerifyError::MalformedHeader(name.clone())),
    }
}

/// What a successful verification established.
///
/// It borrows the event id from the request's headers; [`Verified::into_owned`] detaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified<'a> {
    id: Option<Cow<'a, str>>,
    id_signed: bool,
    timestamp: Option<i64>,
    key_index: usize,
    scheme: &'static str,
}

impl Verified<'_> {
    /// The event id, when the scheme sends one (`webhook-id`, `X-GitHub-Delivery`, `X-Shopify-Event-Id`, …).
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Whether the event id is part of the signed content (Standard Webhooks signs `webhook-id`; GitHub's
    /// `X-GitHub-Delivery` and Shopify's id headers are not signed, so anyone holding one captured request
    /// can resend it under any id). Only a signed id is safe to deduplicate by.
    #[must_use]
    pub fn id_is_signed(&self) -> bool {
        self.id_signed && self.id.is_some()
    }

    /// The signed timestamp (Unix seconds), when the scheme has one.
    #[must_use]
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// The index of the key that matched, in the order the keys were given.
    #[must_use]
    pub fn key_index(&self) -> usize {
        self.key_index
    }

    /// The name of the scheme that verified the request.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// Detaches the result from the request's headers.
    #[must_use]
    pub fn into_owned(self) -> Verified<'static> {
        Verified {
            id: self.id.map(|id| Cow::Owned(id.into_owned())),
            id_signed: self.id_signed,
            timestamp: self.timestamp,
            key_index: self.key_index,
            scheme: self.scheme,
        }
    }
}
