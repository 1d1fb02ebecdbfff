//! [`RateLimit`]: a token bucket per endpoint.

use std::sync::Mutex;
use std::time::Duration;

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

/// A token bucket driven by the sender's clock.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    limit: RateLimit,
    state: Mutex<(f64, Timestamp)>,
}

impl TokenBucket {
    pub(crate) fn new(limit: RateLimit, now: Timestamp) -> Self {
        Self {
            limit,
            state: Mutex::new((f64::from(limit.burst), now)),
        }
    }

    /// Takes a token, or says when the next one will be there.
    pub(crate) fn try_take(&self, now: Timestamp) -> Result<(), Timestamp> {
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = &mut *guard;
        if now > *last {
            let elapsed = now.saturating_duration_since(*last).as_secs_f64();
            *tokens = (*tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
            *last = now;
        }
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) / self.limit.per_second;
            // Round up to the next millisecond so the token is really there at that time.
            Err(now + Duration::from_millis((wait * 1000.0 - 1e-6).ceil().max(1.0) as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_bursts_then_refills_at_the_rate() {
        let t = Timestamp::from_unix_seconds(10);
        let bucket = TokenBucket::new(RateLimit::new(2.0, 3), t);
        for _ in 0..3 {
            assert_eq!(bucket.try_take(t), Ok(()));
        }
        assert_eq!(bucket.try_take(t), Err(t + Duration::from_millis(500)));
        assert_eq!(
            bucket.try_take(t + Duration::from_millis(499)),
            Err(t + Duration::from_millis(500))
        );
        assert_eq!(bucket.try_take(t + Duration::from_millis(500)), Ok(()));
        // A long pause refills only up to the burst.
        let later = t + Duration::from_secs(100);
        for _ in 0..3 {
            assert_eq!(bucket.try_take(later), Ok(()));
        }
        assert!(bucket.try_take(later).is_err());
    }
}
