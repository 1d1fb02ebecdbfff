//! [`CircuitBreaker`]: stop hammering an endpoint that keeps failing.

use std::sync::Mutex;
use std::time::Duration;

use crate::Timestamp;

/// A circuit breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Deliveries flow; consecutive failures are counted.
    Closed {
        /// Consecutive failures so far.
        failures: u32,
    },
    /// Deliveries are held back until `until`.
    Open {
        /// When the breaker half-opens.
        until: Timestamp,
    },
    /// One probe delivery may go; its outcome closes or re-opens the breaker.
    HalfOpen {
        /// Whether the probe is out.
        probing: bool,
    },
}

/// What the breaker says about one delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Go ahead as the half-open probe: report its outcome (or [`CircuitBreaker::cancel_probe`]).
    Probe,
    /// Hold back; ask again at `retry_at` (`None`: when the probe in flight has reported).
    Denied {
        /// When the breaker half-opens, if it is open.
        retry_at: Option<Timestamp>,
    },
}

/// A per-endpoint circuit breaker: `threshold` consecutive failures open it; after `cooldown` it half-opens
/// and lets one probe through; the probe's success closes it, its failure opens it again.
///
/// Failures are transport errors, timeouts, 408, 429 and 5xx; any other answer shows the endpoint is up and
/// counts as a success. Held-back deliveries are deferred without spending an attempt.
///
/// ```
/// use std::time::Duration;
/// use hookguard_sender::{Admission, CircuitBreaker, Timestamp};
///
/// let breaker = CircuitBreaker::new(2, Duration::from_secs(60));
/// let t = Timestamp::from_unix_seconds(0);
/// breaker.record_failure(t);
/// breaker.record_failure(t);
/// assert_eq!(breaker.admit(t), Admission::Denied { retry_at: Some(t + Duration::from_secs(60)) });
/// assert_eq!(breaker.admit(t + Duration::from_secs(60)), Admission::Probe);
/// breaker.record_success();
/// assert_eq!(breaker.admit(t + Duration::from_secs(61)), Admission::Allowed);
/// ```
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

impl Default for CircuitBreaker {
    /// 5 consecutive failures, 60 s cooldown.
    fn default() -> Self {
        Self::new(5, Duration::from_secs(60))
    }
}

impl CircuitBreaker {
    /// A closed breaker that opens after `threshold` consecutive failures (at least 1) for `cooldown`.
    #[must_use]
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut BreakerState) -> T) -> T {
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// The state at `now` (an open breaker past its cooldown reads as half-open).
    #[must_use]
    pub fn state(&self, now: Timestamp) -> BreakerState {
        self.with(|s| match *s {
            BreakerState::Open { until } if now >= until => {
                BreakerState::HalfOpen { probing: false }
            }
            other => other,
        })
    }

    /// Whether a delivery may go now.
    pub fn admit(&self, now: Timestamp) -> Admission {
        self.with(|s| match *s {
            BreakerState::Closed { .. } => Admission::Allowed,
            BreakerState::Open { until } if now < until => Admission::Denied {
                retry_at: Some(until),
            },
            BreakerState::Open { .. } | BreakerState::HalfOpen { probing: false } => {
                *s = BreakerState::HalfOpen { probing: true };
                Admission::Probe
            }
            BreakerState::HalfOpen { probing: true } => Admission::Denied { retry_at: None },
        })
    }

    /// A probe was admitted but not sent (held back by something else): let another one go.
    pub fn cancel_probe(&self) {
        self.with(|s| {
            if *s == (BreakerState::HalfOpen { probing: true }) {
                *s = BreakerState::HalfOpen { probing: false };
            }
        });
    }

    /// The endpoint answered: close the breaker and reset the count.
    pub fn record_success(&self) {
        self.with(|s| *s = BreakerState::Closed { failures: 0 });
    }

    /// The endpoint failed at `now`. Returns `true` if this opened the breaker.
    pub fn record_failure(&self, now: Timestamp) -> bool {
        let threshold = self.threshold;
        let open = BreakerState::Open {
            until: now + self.cooldown,
        };
        self.with(|s| match *s {
            BreakerState::Closed { failures } if failures + 1 < threshold => {
                *s = BreakerState::Closed {
                    failures: failures + 1,
                };
                false
            }
            BreakerState::Closed { .. } | BreakerState::HalfOpen { .. } => {
                *s = open;
                true
            }
            // A delivery admitted before the breaker opened failed too: keep the first cooldown.
            BreakerState::Open { .. } => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_open_sixty_seconds_half_open_one_probe() {
        let b = CircuitBreaker::default();
        let t = Timestamp::from_unix_seconds(100);
        for i in 0..4 {
            assert!(!b.record_failure(t), "failure {i} keeps it closed");
            assert_eq!(b.admit(t), Admission::Allowed);
        }
        assert!(b.record_failure(t), "the fifth opens it");
        let until = t + Duration::from_secs(60);
        assert_eq!(b.state(t), BreakerState::Open { until });
        assert_eq!(
            b.admit(until - Duration::from_millis(1)),
            Admission::Denied {
                retry_at: Some(until)
            }
        );
        assert_eq!(b.state(until), BreakerState::HalfOpen { probing: false });
        assert_eq!(b.admit(until), Admission::Probe);
        assert_eq!(
            b.admit(until),
            Admission::Denied { retry_at: None },
            "one probe at a time"
        );
        assert!(b.record_failure(until), "a failed probe re-opens");
        assert_eq!(
            b.state(until),
            BreakerState::Open {
                until: until + Duration::from_secs(60)
            }
        );
        let later = until + Duration::from_secs(60);
        assert_eq!(b.admit(later), Admission::Probe);
        b.cancel_probe();
        assert_eq!(
            b.admit(later),
            Admission::Probe,
            "a cancelled probe frees the slot"
        );
        b.record_success();
        assert_eq!(b.state(later), BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = CircuitBreaker::new(3, Duration::from_secs(1));
        let t = Timestamp::EPOCH;
        b.record_failure(t);
        b.record_failure(t);
        b.record_success();
        b.record_failure(t);
        b.record_failure(t);
        assert_eq!(b.state(t), BreakerState::Closed { failures: 2 });
    }
}
