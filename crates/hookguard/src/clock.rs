//! Where "now" comes from: a millisecond [`Timestamp`] and a [`Clock`] that tests control.
//!
//! One clock serves the whole workspace: the [`Verifier`](crate::Verifier) checks timestamps against it,
//! `hookguard-tower`'s layer and idempotency stores decide leases and retention on it, and
//! `hookguard-sender` schedules deliveries on it. Stores and queues never read a clock themselves: the time is
//! passed in, so one [`TestClock`] drives both sides of a test.
//!
//! ```
//! use std::time::Duration;
//! use hookguard::{Clock, TestClock, Timestamp};
//!
//! let clock = TestClock::new(Timestamp::from_unix_millis(1_000));
//! clock.advance(Duration::from_secs(5));
//! assert_eq!(clock.now(), Timestamp::from_unix_millis(6_000));
//! ```

use std::fmt;
use std::ops::{Add, Sub};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time: milliseconds since the Unix epoch (UTC).
///
/// Milliseconds are what every backend can store as an integer (a PostgreSQL `bigint`, a Redis sorted-set
/// score), so this is the unit the idempotency stores and the delivery queues speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);

    /// A timestamp from milliseconds since the Unix epoch.
    #[must_use]
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// A timestamp from whole seconds since the Unix epoch.
    #[must_use]
    pub const fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    #[must_use]
    pub const fn as_unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded down), as signature headers carry them.
    #[must_use]
    pub const fn as_unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The current wall-clock time.
    #[must_use]
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// The time elapsed from `earlier` to `self` (zero if `earlier` is later).
    #[must_use]
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        u64::try_from(self.0.saturating_sub(earlier.0))
            .map_or(Duration::ZERO, Duration::from_millis)
    }
}

fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Self;
    fn add(self, rhs: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(rhs)))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Self;
    fn sub(self, rhs: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(rhs)))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self(duration_millis(d)),
            // A clock set before 1970 makes every timestamp look like it comes from the future.
            Err(e) => Self(-duration_millis(e.duration())),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:03}",
            self.0.div_euclid(1000),
            self.0.rem_euclid(1000)
        )
    }
}

/// A source of the current time. Implementations must be cheap: it is read on every request and every job.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// The current time in whole seconds since the Unix epoch, as signature headers carry it.
    fn now_unix(&self) -> i64 {
        self.now().as_unix_seconds()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// The wall clock ([`SystemTime::now`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock stopped at one instant, in whole Unix seconds: for checking a recorded request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_seconds(self.0)
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Clone, Debug, Default)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    /// A clock stopped at `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.as_unix_millis())))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(duration_millis(by), Ordering::SeqCst);
    }

    /// Sets the clock to `to` (which may be in the past).
    pub fn set(&self, to: Timestamp) {
        self.0.store(to.as_unix_millis(), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_rounds_down() {
        let t = Timestamp::from_unix_millis(1_999);
        assert_eq!(t.as_unix_seconds(), 1);
        assert_eq!(Timestamp::from_unix_millis(-1).as_unix_seconds(), -1);
        assert_eq!((t + Duration::from_millis(1)).as_unix_millis(), 2_000);
        assert_eq!((t - Duration::from_secs(2)).as_unix_millis(), -1);
        assert_eq!(
            Timestamp::from_unix_millis(i64::MAX) + Duration::from_secs(1),
            Timestamp::from_unix_millis(i64::MAX)
        );
        assert_eq!(
            t.saturating_duration_since(t + Duration::from_secs(1)),
            Duration::ZERO
        );
        assert_eq!(t.to_string(), "1.999");
        assert_eq!(FixedClock(5).now_unix(), 5);
        assert_eq!(FixedClock(5).now(), Timestamp::from_unix_millis(5_000));
    }

    #[test]
    fn test_clock_clones_share_time() {
        let a = TestClock::new(Timestamp::from_unix_seconds(10));
        let b = a.clone();
        a.advance(Duration::from_millis(250));
        assert_eq!(b.now(), Timestamp::from_unix_millis(10_250));
        b.set(Timestamp::EPOCH);
        assert_eq!(a.now(), Timestamp::EPOCH);
    }
}
