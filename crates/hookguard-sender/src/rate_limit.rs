//! [`RateLimit`]: a token bucket per endpoint.

use std::sync::Mutex;

use serde::Deserialize;

use crate::Timestamp;

/// At most `per_second` deliveries a second on average, with bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct RateLimit {
    /// Sustained rate (tokens added per second). Must be positive and finite.
    pub per_second: f64,
    /// Bucket size (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` on average, bursts of `burst`.
    #[must_use]
    pub const fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second, burst }
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.per_second.is_finite() && self.per_second > 0.0 && self.burst >= 1
    }
}

/// A GCRA limiter (the token bucket's continuous form) driven by the sender's clock.
///
/// It keeps one "theoretical arrival time": reserving a slot pushes it one interval on, so held-back jobs get
/// distinct future slots instead of all waking at the same "next token" instant.
#[derive(Debug)]
pub(crate) struct Gcra {
    interval_ms: f64,
    burst: u32,
    /// Theoretical arrival time of the next conforming request, in milliseconds.
    tat: Mutex<f64>,
}

impl Gcra {
    pub(crate) fn new(limit: RateLimit, now: Timestamp) -> Self {
        Self {
            interval_ms: 1000.0 / limit.per_second,
            burst: limit.burst,
            tat: Mutex::new(now.as_unix_millis() as f64),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut f64) -> T) -> T {
        let mut guard = self
            .tat
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// The burst: how many requests may go at once after a quiet spell.
    pub(crate) const fn burst(&self) -> u32 {
        self.burst
    }

    /// How many requests may go at `now` without waiting.
    pub(crate) fn available(&self, now: Timestamp) -> usize {
        let now = now.as_unix_millis() as f64;
        self.with(|tat| {
            let tat = tat.max(now);
            let n = (now + f64::from(self.burst) * self.interval_ms - tat) / self.interval_ms;
            // A hair of tolerance so float rounding never loses a whole token.
            (n + 1e-9).floor().clamp(0.0, f64::from(self.burst)) as usize
        })
    }

    /// When at least `n` (≤ burst) requests may go at once.
    pub(crate) fn when_available(&self, n: usize, now: Timestamp) -> Timestamp {
        let n = (n as f64).min(f64::from(self.burst));
        let at = self.with(|tat| *tat - (f64::from(self.burst) - n) * self.interval_ms);
        let at = Timestamp::from_unix_millis(at.ceil() as i64);
        if at > now { at } else { now }
    }

    /// Takes a token now, or says when one will be there (taking nothing).
    pub(crate) fn try_take(&self, now: Timestamp) -> Result<(), Timestamp> {
        if self.available(now) >= 1 {
            let now_ms = now.as_unix_millis() as f64;
            self.with(|tat| *tat = tat.max(now_ms) + self.interval_ms);
            Ok(())
        } else {
            Err(self.when_available(1, now))
        }
    }

    /// Reserves the next free slot at or after `now` and returns it: each call gets a later slot.
    pub(crate) fn reserve(&self, now: Timestamp) -> Timestamp {
        let now_ms = now.as_unix_millis() as f64;
        let tolerance = f64::from(self.burst - 1) * self.interval_ms;
        let slot = self.with(|tat| {
            let slot = (*tat - tolerance).max(now_ms);
            *tat = tat.max(now_ms) + self.interval_ms;
            slot
        });
        Timestamp::from_unix_millis(slot.ceil() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let t = Timestamp::from_unix_seconds(10);
        let g = Gcra::new(RateLimit::new(2.0, 3), t);
        assert_eq!(g.available(t), 3);
        for _ in 0..3 {
            assert_eq!(g.try_take(t), Ok(()));
        }
        assert_eq!(g.try_take(t), Err(t + Duration::from_millis(500)));
        assert_eq!(
            g.try_take(t + Duration::from_millis(499)),
            Err(t + Duration::from_millis(500))
        );
        assert_eq!(g.try_take(t + Duration::from_millis(500)), Ok(()));
        assert_eq!(g.when_available(3, t), t + Duration::from_millis(2000));
        // A long pause refills only up to the burst.
        let later = t + Duration::from_secs(100);
        assert_eq!(g.available(later), 3);
        for _ in 0..3 {
            assert_eq!(g.try_take(later), Ok(()));
        }
        assert!(g.try_take(later).is_err());
    }

    #[test]
    fn reservations_get_distinct_slots() {
        let t = Timestamp::from_unix_seconds(10);
        let g = Gcra::new(RateLimit::new(100.0, 1), t);
        let slots: Vec<_> = (0..5).map(|_| g.reserve(t)).collect();
        let ms = |n| t + Duration::from_millis(n);
        assert_eq!(slots, vec![t, ms(10), ms(20), ms(30), ms(40)]);
    }
}
