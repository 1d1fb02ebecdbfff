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

/// Parses a `Retry-After` value (delay-seconds, or an HTTP date in any of the three formats of RFC 9110
/// §5.6.7: IMF-fixdate, the obsolete RFC 850 form and asctime; other RFC 2822 dates are accepted too) into a
/// delay from `now`; a date in the past is no delay.
///
/// ```
/// use std::time::Duration;
/// use hookguard_sender::{Timestamp, parse_retry_after};
/// let now = Timestamp::from_unix_seconds(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now), Some(Duration::from_secs(60)));
/// assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now), Some(Duration::from_secs(60)));
/// assert_eq!(parse_retry_after("Sun Nov  6 08:50:37 1994", now), Some(Duration::from_secs(60)));
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
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
        .or_else(|| rfc850(value, now))
        .or_else(|| asctime(value))?;
    Some(Timestamp::from_unix_seconds(at).saturating_duration_since(now))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn month(name: &str) -> Option<time::Month> {
    let i = MONTHS.iter().position(|m| *m == name)?;
    time::Month::try_from(i as u8 + 1).ok()
}

fn two_digits(s: &str) -> Option<u8> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `HH:MM:SS`.
fn clock_time(s: &str) -> Option<time::Time> {
    let mut parts = s.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    time::Time::from_hms(two_digits(h)?, two_digits(m)?, two_digits(sec)?).ok()
}

fn unix(year: i32, month: time::Month, day: u8, at: time::Time) -> Option<i64> {
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, at)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`. A two-digit year more than 50 years ahead of `now` is in the past
/// century (RFC 9110 §5.6.7).
fn rfc850(value: &str, now: Timestamp) -> Option<i64> {
    let (day_name, rest) = value.split_once(", ")?;
    if !DAYS.contains(&day_name) {
        return None;
    }
    let mut fields = rest.split(' ');
    let (date, at, zone) = (fields.next()?, fields.next()?, fields.next()?);
    if zone != "GMT" || fields.next().is_some() {
        return None;
    }
    let mut d = date.split('-');
    let (day, mon, yy) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() {
        return None;
    }
    let this_year = time::OffsetDateTime::from_unix_timestamp(now.as_unix_seconds())
        .ok()?
        .year();
    let yy = i32::from(two_digits(yy)?);
    let mut year = this_year - this_year.rem_euclid(100) + yy;
    if year > this_year + 50 {
        year -= 100;
    }
    unix(year, month(mon)?, two_digits(day)?, clock_time(at)?)
}

/// `Sun Nov  6 08:49:37 1994` (the day space-padded to two characters).
fn asctime(value: &str) -> Option<i64> {
    if value.len() != 24 || !value.is_ascii() {
        return None;
    }
    let (wd, mon, day, at, year) = (
        &value[0..3],
        &value[4..7],
        &value[8..10],
        &value[11..19],
        &value[20..24],
    );
    let seps = [&value[3..4], &value[7..8], &value[10..11], &value[19..20]];
    if seps.iter().any(|s| *s != " ") || !DAYS.iter().any(|d| &d[..3] == wd) {
        return None;
    }
    let day = match day.as_bytes() {
        [b' ', d] if d.is_ascii_digit() => d - b'0',
        _ => two_digits(day)?,
    };
    if !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    unix(year.parse().ok()?, month(mon)?, day, clock_time(at)?)
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
    fn retry_after_parses_all_three_date_formats_and_rejects_junk() {
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
        // RFC 9110 §5.6.7: recipients accept the obsolete RFC 850 and asctime formats too.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:38 GMT", now),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:47 1994", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after(
                "Tue Feb 29 00:00:01 2000",
                Timestamp::from_unix_seconds(951_782_400)
            ),
            Some(Duration::from_secs(1))
        );
        // A two-digit year more than 50 years ahead is in the past century.
        let y2030 = Timestamp::from_unix_seconds(1_893_456_000); // 2030-01-01
        assert_eq!(
            parse_retry_after("Friday, 01-Jan-99 00:00:00 GMT", y2030),
            Some(Duration::ZERO),
            "1999, not 2099"
        );
        assert_eq!(
            parse_retry_after("Sunday, 01-Jan-34 00:00:10 GMT", y2030),
            Some(Duration::from_secs(4 * 365 * 86_400 + 86_400 + 10)),
            "2034: within 50 years"
        );
        for junk in [
            "",
            "-1",
            "1.5",
            "Sunday, 06-Nov-94 08:49:37 UTC",
            "Sonntag, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Xyz  6 08:49:37 1994",
            "Sun Nov  6 08:49:37 199x",
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
