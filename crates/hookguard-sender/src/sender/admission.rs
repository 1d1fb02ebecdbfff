//! Admission: may this endpoint take a delivery now? Enabled/paused state, in-flight cap, breaker and rate
//! limit, turned into [`LeaseOptions`] before leasing (so held-back backlogs are not leased at all) and into
//! admit / defer / dead-letter for each leased job.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookguard::Signer;
use rand::RngExt;

use super::builder::Settings;
use super::telemetry::DeferCause;
use crate::breaker::{Admission, CircuitBreaker};
use crate::error::ConfigError;
use crate::queue::{DeadLetterReason, EndpointState, LeaseOptions, Leased};
use crate::rate_limit::Gcra;
use crate::ssrf::is_forbidden;
use crate::{BreakerState, Endpoint, Timestamp};

/// An endpoint with its signer, breaker, limiter and in-flight count (all per process).
#[derive(Debug)]
pub(crate) struct EndpointRuntime {
    pub(crate) config: Endpoint,
    /// The id as a metric label.
    pub(crate) label: Arc<str>,
    pub(crate) url: reqwest::Url,
    pub(crate) signer: Signer,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) limiter: Option<Gcra>,
    /// Jobs of this endpoint leased by this process and not concluded yet.
    pub(crate) in_flight: AtomicUsize,
    /// The shared state, as last read from the queue (refreshed off the hot path).
    pub(crate) state: Mutex<EndpointState>,
}

impl EndpointRuntime {
    pub(crate) fn new(
        config: Endpoint,
        allow_private: bool,
        s: &Settings,
        now: Timestamp,
    ) -> Result<Self, ConfigError> {
        let id = config.id.clone();
        if id.is_empty() {
            return Err(ConfigError::EmptyEndpointId);
        }
        let invalid = |reason: String| ConfigError::InvalidUrl {
            endpoint: id.clone(),
            reason,
        };
        let url = reqwest::Url::parse(&config.url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "scheme `{}` is not http or https",
                url.scheme()
            )));
        }
        let host = url.host_str().ok_or_else(|| invalid("no host".into()))?;
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>();
        if let Ok(addr) = literal
            && !allow_private
            && is_forbidden(addr)
        {
            return Err(ConfigError::ForbiddenTarget { endpoint: id, addr });
        }
        let mut keys = config.keys.iter();
        let first = keys.next().ok_or_else(|| ConfigError::NoKeys {
            endpoint: id.clone(),
        })?;
        let key_err = |source| ConfigError::Key {
            endpoint: id.clone(),
            source,
        };
        let mut signer = Signer::new(config.scheme.clone(), first).map_err(key_err)?;
        for k in keys {
            signer = signer.with_secret(k).map_err(key_err)?;
        }
        if config.timeout.is_zero() {
            return Err(ConfigError::Zero("endpoint timeout"));
        }
        if config.max_in_flight == 0 {
            return Err(ConfigError::Zero("max_in_flight"));
        }
        let limiter = match config.rate_limit {
            Some(limit) if !limit.is_valid() => {
                return Err(ConfigError::InvalidRateLimit { endpoint: id });
            }
            Some(limit) => Some(Gcra::new(limit, now)),
            None => None,
        };
        Ok(Self {
            label: Arc::from(id.as_str()),
            url,
            signer,
            breaker: CircuitBreaker::new(s.breaker_threshold, s.breaker_cooldown),
            limiter,
            in_flight: AtomicUsize::new(0),
            state: Mutex::new(EndpointState::default()),
            config,
        })
    }

    pub(crate) fn state(&self) -> EndpointState {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_state(&self, state: EndpointState) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
    }

    fn read<T>(&self, f: impl FnOnce(&EndpointState) -> T) -> T {
        f(&self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub(crate) fn enabled(&self) -> bool {
        self.config.enabled && self.read(|s| s.enabled)
    }

    fn paused_until(&self, now: Timestamp) -> Option<Timestamp> {
        self.read(|s| s.paused_until.filter(|p| *p > now))
    }

    /// How many jobs this endpoint may take now (0: hold it back), and when that may change.
    fn cap(&self, now: Timestamp, batch: usize) -> (usize, Option<Timestamp>) {
        if !self.enabled() {
            // Leased only to be dead-lettered, without an attempt.
            return (batch, None);
        }
        if let Some(until) = self.paused_until(now) {
            return (0, Some(until));
        }
        let free = self
            .config
            .max_in_flight
            .saturating_sub(self.in_flight.load(Ordering::Acquire));
        if free == 0 {
            // A conclusion frees a place and wakes the leaser.
            return (0, None);
        }
        let breaker = match self.breaker.state(now) {
            BreakerState::Closed { .. } => free,
            BreakerState::Open { until } => return (0, Some(until)),
            BreakerState::HalfOpen { probing: true } => return (0, None),
            BreakerState::HalfOpen { probing: false } => 1,
        };
        let Some(limiter) = &self.limiter else {
            return (breaker, None);
        };
        // Lease a rate-limited endpoint only once a batch's worth of tokens and in-flight places is there
        // (or its whole burst or in-flight cap, if smaller): a backlog then costs one lease call per batch,
        // not one per token or per freed place.
        let probing =
            breaker == 1 && !matches!(self.breaker.state(now), BreakerState::Closed { .. });
        let want = if probing {
            1
        } else {
            batch
                .min(limiter.burst() as usize)
                .min(self.config.max_in_flight)
                .max(1)
        };
        if breaker < want {
            return (0, None);
        }
        let tokens = limiter.available(now);
        if tokens < want {
            return (0, Some(limiter.when_available(want, now)));
        }
        (tokens.min(breaker), None)
    }
}

/// The lease options for the configured endpoints, and the earliest time a held-back one may move.
pub(crate) fn lease_options(
    endpoints: &HashMap<String, Arc<EndpointRuntime>>,
    now: Timestamp,
    batch: usize,
) -> (LeaseOptions, Option<Timestamp>) {
    let mut options = LeaseOptions {
        // Unknown endpoints' jobs are leased to be dead-lettered; a batch at a time.
        default_cap: batch,
        ..LeaseOptions::default()
    };
    let mut wake: Option<Timestamp> = None;
    for (id, ep) in endpoints {
        let (cap, at) = ep.cap(now, batch);
        if cap == 0 {
            options.exclude.insert(id.clone());
        } else {
            options.caps.insert(id.clone(), cap);
        }
        if let Some(at) = at {
            wake = Some(wake.map_or(at, |w| w.min(at)));
        }
    }
    (options, wake)
}

/// What to do with one leased job before any request.
#[derive(Debug)]
pub(crate) enum Admit {
    /// Deliver it (as the breaker's probe if `probe`).
    Go { probe: bool },
    /// Hold it back until `at`, spending no attempt.
    Defer { at: Timestamp, cause: DeferCause },
    /// Dead-letter it without an attempt.
    DeadLetter(DeadLetterReason),
}

/// Up to a tenth of `span` (at most 1 s) of random delay: held-back jobs must not all wake at one instant.
fn jitter(span: Duration) -> Duration {
    let max = (span / 10).min(Duration::from_secs(1)).as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(0..=max))
}

/// Admission for one leased job. Leasing already respected the caps, so deferring here only happens in races
/// (a breaker that opened, a pause seen late).
pub(crate) fn admit(ep: &EndpointRuntime, leased: &Leased, now: Timestamp, s: &Settings) -> Admit {
    if !ep.enabled() {
        return Admit::DeadLetter(DeadLetterReason::EndpointDisabled);
    }
    if leased.job.created_at + s.max_age < now {
        return Admit::DeadLetter(DeadLetterReason::Expired);
    }
    if let Some(until) = ep.paused_until(now) {
        return Admit::Defer {
            at: until + jitter(s.defer_delay),
            cause: DeferCause::Paused,
        };
    }
    let probe = match ep.breaker.admit(now) {
        Admission::Allowed => false,
        Admission::Probe => true,
        Admission::Denied { retry_at } => {
            let at = retry_at.unwrap_or(now + s.defer_delay);
            return Admit::Defer {
                at: at + jitter(s.breaker_cooldown),
                cause: DeferCause::Breaker,
            };
        }
    };
    if let Some(limiter) = &ep.limiter
        && limiter.try_take(now).is_err()
    {
        if probe {
            ep.breaker.cancel_probe();
        }
        // A distinct slot per held-back job (GCRA), so they come back one interval apart.
        let slot = limiter.reserve(now);
        return Admit::Defer {
            at: slot + jitter(Duration::from_millis(10)),
            cause: DeferCause::RateLimit,
        };
    }
    Admit::Go { probe }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RateLimit;

    const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn runtime(ep: Endpoint, now: Timestamp) -> Arc<EndpointRuntime> {
        let s = Settings {
            breaker_threshold: 1,
            ..Settings::default()
        };
        Arc::new(EndpointRuntime::new(ep, true, &s, now).unwrap())
    }

    #[test]
    fn held_back_endpoints_are_excluded_and_say_when_to_look_again() {
        let now = Timestamp::from_unix_seconds(1_000);
        let s = Duration::from_secs(1);
        let open = runtime(Endpoint::new("open", "http://127.0.0.1/", KEY), now);
        open.breaker.record_failure(now);
        let full = runtime(
            Endpoint::new("full", "http://127.0.0.1/", KEY).with_max_in_flight(2),
            now,
        );
        full.in_flight.store(2, Ordering::Relaxed);
        let limited = runtime(
            Endpoint::new("limited", "http://127.0.0.1/", KEY)
                .with_rate_limit(RateLimit::new(10.0, 4))
                .with_max_in_flight(8),
            now,
        );
        for _ in 0..4 {
            limited.limiter.as_ref().unwrap().try_take(now).unwrap();
        }
        let paused = runtime(Endpoint::new("paused", "http://127.0.0.1/", KEY), now);
        paused.set_state(EndpointState {
            paused_until: Some(now + s * 30),
            ..EndpointState::default()
        });
        let free = runtime(
            Endpoint::new("free", "http://127.0.0.1/", KEY).with_max_in_flight(3),
            now,
        );
        let all: HashMap<String, Arc<EndpointRuntime>> = [open, full, limited, paused, free]
            .into_iter()
            .map(|e| (e.config.id.clone(), e))
            .collect();
        let (options, wake) = lease_options(&all, now, 16);
        for id in ["open", "full", "limited", "paused"] {
            assert_eq!(options.cap(id), 0, "{id} is held back");
        }
        assert_eq!(options.cap("free"), 3, "free in-flight places");
        assert_eq!(options.cap("unknown"), 16, "a batch for unknown endpoints");
        // The limiter wants min(batch, burst, max_in_flight) = 4 tokens: 400 ms at 10/s.
        assert_eq!(wake, Some(now + Duration::from_millis(400)));
        let (options, _) = lease_options(&all, now + s * 60, 16);
        assert_eq!(options.cap("open"), 1, "half-open: one probe");
        assert_eq!(
            options.cap("paused"),
            2,
            "the pause is over: its 2 in-flight places"
        );
        assert_eq!(options.cap("limited"), 4, "a whole burst again");
    }
}
