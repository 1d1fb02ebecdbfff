//! What a response means: delivered, gone, permanent failure, or retry; and `Retry-After`.

use std::time::Duration;

use crate::Timestamp;
use crate::error::ConfigError;

/// The statuses that are never permanent: the receiver is busy or in a transient state.
const NEVER_PERMANENT: [u16; 4] = [408, 409, 425, 429];

/// The HTTP statuses that dead-letter a job at once.
///
/// Default: 400, 401, 403, 404, 405, 413, 415, 422. Any 4xx may be added except 408, 409, 425 and 429 (and
/// 410, which always disables the endpoint); 5xx and other classes are never permanent.
///
/// ```
/// use hookguard_sender::PermanentStatuses;
/// assert!(PermanentStatuses::default().contains(404));
/// assert!(PermanentStatuses::new([400, 404, 451]).is_ok());
/// assert!(PermanentStatuses::new([429]).is_err());
/// assert!(PermanentStatuses::new([503]).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PermanentStatuses {
    /// Bit `n` set: status `400 + n` is permanent.
    bits: u128,
}

impl Default for PermanentStatuses {
    fn default() -> Self {
        let mut bits = 0;
        for s in [400, 401, 403, 404, 405, 413, 415, 422] {
            bits |= 1u128 << (s - 400);
        }
        Self { bits }
    }
}

impl PermanentStatuses {
    /// Exactly these statuses. Fails on a status that may not be permanent.
    pub fn new(statuses: impl IntoIterator<Item = u16>) -> Result<Self, ConfigError> {
        let mut bits = 0;
        for s in statuses {
            if !(400..500).contains(&s) || s == 410 || NEVER_PERMANENT.contains(&s) {
                return Err(ConfigError::NotPermanent(s));
            }
            bits |= 1u128 << (s - 400);
        }
        Ok(Self { bits })
    }

    /// Whether `status` dead-letters at once.
    #[must_use]
    pub const fn contains(&self, status: u16) -> bool {
        status >= 400 && status < 500 && self.bits & (1u128 << (status - 400)) != 0
    }
}

/// What to do after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: acknowledge.
    Delivered,
    /// 410: disable the endpoint and dead-letter.
    Gone,
    /// A permanent status: dead-letter at once.
    Permanent,
    /// Anything else: retry per the policy (or dead-letter when attempts are exhausted).
    Retry,
}

/// Classifies an HTTP status.
///
/// ```
/// use hookguard_sender::{Outcome, PermanentStatuses, classify};
/// let p = PermanentStatuses::default();
/// assert_eq!(classify(204, &p), Outcome::Delivered);
/// assert_eq!(classify(410, &p), Outcome::Gone);
/// assert_eq!(classify(404, &p), Outcome::Permanent);
/// assert_eq!(classify(409, &p), Outcome::Retry);
/// assert_eq!(classify(503, &p), Outcome::Retry);
/// ```
#[must_use]
pub const fn classify(status: u16, permanent: &PermanentStatuses) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        410 => Outcome::Gone,
        s if permanent.contains(s) => Outcome::Permanent,
        _ => Outcome::Retry,
    }
}

/// Whether an outcome counts against the circuit breaker: the endpoint is down or overloaded.
pub(crate) const fn is_breaker_failure(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(s) => s == 408 || s == 429 || s >= 500,
    }
}

/// Parses a `Retry-After` value (delay-seconds, or an HTTP date: an IMF-fixdate or any RFC 2822 date) into
/// a delay from `now`; a date in the past is no delay.
///
/// ```
/// use std::time::Duration;
/// use hookguard_sender::{Timestamp, parse_retry_after};
/// let now = Timestamp::from_unix_seconds(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now), Some(Duration::from_secs(60)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
#[must_use]
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Over-long numbers saturate rather than fail: the caller clamps anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    // An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) is an RFC 2822 date with the zone `GMT`.
    let at = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822)
        .ok()?
        .unix_timestamp();
    Some(Timestamp::from_unix_seconds(at).saturating_duration_since(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_design() {
        let p = PermanentStatuses::default();
        for s in [200, 201, 202, 204, 299] {
            assert_eq!(classify(s, &p), Outcome::Delivered, "{s}");
        }
        for s in [400, 401, 403, 404, 405, 413, 415, 422] {
            assert_eq!(classify(s, &p), Outcome::Permanent, "{s}");
        }
        for s in [
            100, 301, 302, 307, 402, 406, 408, 409, 418, 425, 429, 451, 500, 502, 503, 504, 599,
            600,
        ] {
            assert_eq!(classify(s, &p), Outcome::Retry, "{s}");
        }
        assert_eq!(classify(410, &p), Outcome::Gone);
        let custom = PermanentStatuses::new([451]).unwrap();
        assert_eq!(classify(451, &custom), Outcome::Permanent);
        assert_eq!(classify(404, &custom), Outcome::Retry);
        for bad in [
            408,
            409,
            425,
            429,
            410,
            500,
            503,
            200,
            399,
            500,
            0,
            u16::MAX,
        ] {
            assert!(
                matches!(PermanentStatuses::new([bad]), Err(ConfigError::NotPermanent(s)) if s == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn retry_after_parses_both_forms_and_rejects_junk() {
        let now = Timestamp::from_unix_seconds(784_111_777);
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now),
            Some(Duration::ZERO),
            "past → now"
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", Timestamp::EPOCH),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(
                "Tue, 29 Feb 2000 00:00:01 GMT",
                Timestamp::from_unix_seconds(951_782_400)
            ),
            Some(Duration::from_secs(1))
        );
        // RFC 2822 forms other than the IMF-fixdate are accepted too (a one-digit day, a numeric zone).
        assert_eq!(
            parse_retry_after("Sun, 6 Nov 1994 08:50:37 +0000", now),
            Some(Duration::from_secs(60))
        );
        for junk in [
            "",
            "-1",
            "1.5",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Xyz 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "é",
        ] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }
}
