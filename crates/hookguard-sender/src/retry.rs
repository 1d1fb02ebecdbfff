//! [`RetryPolicy`]: when to try again, and when to give up.

use std::time::Duration;

use rand::RngExt;

/// How a policy computes delays.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// `delays[i]` is the delay before attempt `i + 1`, scaled by a random factor in `1 ± jitter`.
    Schedule { delays: Vec<Duration>, jitter: f64 },
    /// Delay before attempt `n + 1` is uniform in `[0, min(cap, base · factorⁿ⁻¹)]` (full jitter).
    Exponential {
        base: Duration,
        factor: f64,
        cap: Duration,
        max_attempts: u32,
    },
}

/// When to retry a failed delivery, and when to give up (then the job is dead-lettered).
///
/// Attempts are numbered from 1; `max_attempts` counts every attempt, the first included.
///
/// ```
/// use std::time::Duration;
/// use hookguard_sender::RetryPolicy;
///
/// // The default: the Standard Webhooks schedule, ±20 % jitter, 10 attempts over about 75 h 35 min.
/// let policy = RetryPolicy::default().without_jitter();
/// assert_eq!(policy.max_attempts(), 10);
/// assert_eq!(policy.delay_after(1), Some(Duration::from_secs(5)));
/// assert_eq!(policy.delay_after(9), Some(Duration::from_secs(24 * 3600)));
/// assert_eq!(policy.delay_after(10), None); // exhausted
///
/// // "2 s doubling up to 32 s, 5 attempts", with full jitter:
/// let seeds = RetryPolicy::exponential(Duration::from_secs(2), 2.0, Duration::from_secs(32), 5);
/// assert!(seeds.delay_after(1).unwrap() <= Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    kind: Kind,
    jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::standard_webhooks()
    }
}

impl RetryPolicy {
    /// The Standard Webhooks schedule: attempts at 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h
    /// after the previous one, each delay scaled by a random factor in 0.8–1.2.
    #[must_use]
    pub fn standard_webhooks() -> Self {
        const MIN: u64 = 60;
        const HOUR: u64 = 3600;
        let secs = [
            0,
            5,
            5 * MIN,
            30 * MIN,
            2 * HOUR,
            5 * HOUR,
            10 * HOUR,
            14 * HOUR,
            20 * HOUR,
            24 * HOUR,
        ];
        Self::schedule(secs.map(Duration::from_secs), 0.2)
    }

    /// A fixed schedule: `delays[0]` before the first attempt (normally zero), `delays[i]` between attempt `i`
    /// and attempt `i + 1`; as many attempts as delays. Each delay is scaled by a random factor in
    /// `1 ± jitter` (`jitter` is clamped to 0–1).
    #[must_use]
    pub fn schedule(delays: impl IntoIterator<Item = Duration>, jitter: f64) -> Self {
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Self {
            kind: Kind::Schedule {
                delays: delays.into_iter().collect(),
                jitter,
            },
            jitter: true,
        }
    }

    /// Exponential backoff with full jitter: the delay after attempt `n` is uniform in
    /// `[0, min(cap, base · factorⁿ⁻¹)]`; at most `max_attempts` attempts (the first is immediate).
    #[must_use]
    pub fn exponential(base: Duration, factor: f64, cap: Duration, max_attempts: u32) -> Self {
        let factor = if factor.is_finite() && factor >= 1.0 {
            factor
        } else {
            1.0
        };
        Self {
            kind: Kind::Exponential {
                base,
                factor,
                cap,
                max_attempts,
            },
            jitter: true,
        }
    }

    /// The same policy without randomness: every delay is its nominal value (the upper bound for
    /// exponential backoff). For tests that assert an exact schedule.
    #[must_use]
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// How many attempts in all (the first included).
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        match &self.kind {
            Kind::Schedule { delays, .. } => u32::try_from(delays.len()).unwrap_or(u32::MAX),
            Kind::Exponential { max_attempts, .. } => *max_attempts,
        }
    }

    /// The delay before the first attempt (zero unless a schedule says otherwise).
    #[must_use]
    pub fn first_delay(&self) -> Duration {
        match &self.kind {
            Kind::Schedule { delays, .. } => delays.first().copied().unwrap_or_default(),
            Kind::Exponential { .. } => Duration::ZERO,
        }
    }

    /// The nominal (unjittered) delay after failed attempt `attempt`, or `None` when that was the last.
    fn nominal(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt >= self.max_attempts() {
            return None;
        }
        match &self.kind {
            Kind::Schedule { delays, .. } => delays.get(attempt as usize).copied(),
            Kind::Exponential {
                base, factor, cap, ..
            } => {
                let exp = i32::try_from(attempt - 1).unwrap_or(i32::MAX);
                let secs = base.as_secs_f64() * factor.powi(exp);
                let capped = if secs.is_finite() {
                    secs.min(cap.as_secs_f64())
                } else {
                    cap.as_secs_f64()
                };
                Some(Duration::from_secs_f64(capped.max(0.0)))
            }
        }
    }

    /// The delay after failed attempt `attempt` (1-based) before the next one, jittered; `None` when the
    /// attempts are exhausted.
    #[must_use]
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        let nominal = self.nominal(attempt)?;
        if !self.jitter || nominal.is_zero() {
            return Some(nominal);
        }
        let mut rng = rand::rng();
        Some(match &self.kind {
            Kind::Schedule { jitter, .. } => {
                let f = if *jitter > 0.0 {
                    rng.random_range(1.0 - jitter..=1.0 + jitter)
                } else {
                    1.0
                };
                nominal.mul_f64(f)
            }
            Kind::Exponential { .. } => nominal.mul_f64(rng.random_range(0.0..=1.0)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    #[test]
    fn standard_schedule_is_exact_without_jitter() {
        let p = RetryPolicy::standard_webhooks().without_jitter();
        let got: Vec<_> = (1..=10)
            .map(|a| p.delay_after(a).map(|d| d.as_secs()))
            .collect();
        let want = [5, 300, 1800, 2 * H, 5 * H, 10 * H, 14 * H, 20 * H, 24 * H];
        assert_eq!(got[..9], want.map(Some));
        assert_eq!(got[9], None);
        assert_eq!(p.first_delay(), Duration::ZERO);
        let total: u64 = want.iter().sum();
        assert_eq!(
            total,
            75 * H + 35 * 60 + 5,
            "about 75 h 35 min, under the layer's 76 h retention"
        );
    }

    #[test]
    fn standard_jitter_stays_within_twenty_percent() {
        let p = RetryPolicy::standard_webhooks();
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..2_000 {
            let d = p.delay_after(2).unwrap().as_secs_f64();
            assert!((240.0..=360.0).contains(&d), "{d}");
            seen_low |= d < 290.0;
            seen_high |= d > 310.0;
        }
        assert!(seen_low && seen_high, "jitter spreads both ways");
    }

    #[test]
    fn exponential_full_jitter_is_bounded_by_the_capped_ceiling() {
        let p = RetryPolicy::exponential(Duration::from_secs(2), 2.0, Duration::from_secs(32), 5);
        let exact = p.clone().without_jitter();
        let ceilings: Vec<_> = (1..5)
            .map(|a| exact.delay_after(a).unwrap().as_secs())
            .collect();
        assert_eq!(ceilings, [2, 4, 8, 16]);
        assert_eq!(exact.delay_after(5), None);
        let capped =
            RetryPolicy::exponential(Duration::from_secs(2), 2.0, Duration::from_secs(32), 50)
                .without_jitter();
        assert_eq!(capped.delay_after(40), Some(Duration::from_secs(32)));
        for _ in 0..1_000 {
            assert!(p.delay_after(3).unwrap() <= Duration::from_secs(8));
        }
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert_eq!(RetryPolicy::schedule([], f64::NAN).delay_after(1), None);
        let p = RetryPolicy::exponential(
            Duration::MAX,
            f64::INFINITY,
            Duration::from_secs(1),
            u32::MAX,
        );
        assert!(p.delay_after(u32::MAX - 1).unwrap() <= Duration::from_secs(1));
        assert_eq!(p.delay_after(0), None);
    }
}
