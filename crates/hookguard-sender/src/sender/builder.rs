//! [`SenderBuilder`]: configuration, checked once in [`SenderBuilder::build`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::admission::EndpointRuntime;
use super::{Sender, Shared};
use crate::error::ConfigError;
use crate::outcome::PermanentStatuses;
use crate::queue::Queue;
use crate::ssrf::GuardedResolver;
use crate::transport::{ReqwestTransport, Transport};
use crate::{Clock, Endpoint, RetryPolicy};

/// The lease must exceed the longest endpoint timeout by more than this.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Builds a [`Sender`]. See [`Sender::builder`].
#[must_use]
pub struct SenderBuilder<Q> {
    pub(super) queue: Q,
    pub(super) endpoints: Vec<Endpoint>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) transport: Option<Arc<dyn Transport>>,
    pub(super) settings: Settings,
}

/// Endpoints print with their URLs redacted and keys hidden.
impl<Q> fmt::Debug for SenderBuilder<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderBuilder")
            .field("endpoints", &self.endpoints)
            .field("clock", &self.clock)
            .field("transport", &self.transport)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) workers: usize,
    pub(crate) batch: usize,
    pub(crate) lease: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) linger: Duration,
    pub(crate) defer_delay: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) permanent: PermanentStatuses,
    pub(crate) retry_after_cap: Duration,
    pub(crate) response_body_limit: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) retention: Duration,
    pub(crate) max_age: Duration,
    pub(crate) max_lapses: u32,
    pub(crate) reap_interval: Duration,
    pub(crate) reap_limit: usize,
    pub(crate) queue_timeout: Duration,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_cooldown: Duration,
    pub(crate) allow_private: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            workers: 4,
            batch: 1,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(250),
            linger: Duration::from_millis(2),
            defer_delay: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            permanent: PermanentStatuses::default(),
            retry_after_cap: Duration::from_secs(24 * 3600),
            response_body_limit: 1024,
            connect_timeout: Duration::from_secs(5),
            retention: Duration::from_secs(76 * 3600),
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_lapses: 3,
            reap_interval: Duration::from_secs(5),
            reap_limit: 1000,
            queue_timeout: Duration::from_secs(5),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(60),
            allow_private: false,
        }
    }
}

impl<Q: Queue> SenderBuilder<Q> {
    /// Adds an endpoint.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// Adds endpoints.
    pub fn endpoints(mut self, endpoints: impl IntoIterator<Item = Endpoint>) -> Self {
        self.endpoints.extend(endpoints);
        self
    }

    /// The clock every time decision reads (default: [`SystemClock`](crate::SystemClock)); tests pass a
    /// [`TestClock`](crate::TestClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How requests are sent (default: a `reqwest` client, see [`ReqwestTransport`]). Tests and demos pass a
    /// fake to inject faults without sockets; the SSRF guard is the default transport's, a custom one must
    /// bring its own.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// How many deliveries run at once in this process: its slots (default 4).
    pub const fn workers(mut self, n: usize) -> Self {
        self.settings.workers = n;
        self
    }

    /// How many jobs one lease call takes at most (default 1). The process leases when at least half a
    /// batch of slots is free, or after a 2 ms linger; conclusions are batched the same way.
    ///
    /// On `MemoryQueue` small batches are best (about slots / 8). On PostgreSQL each lease and each batch of
    /// conclusions is a commit, so size the batch to the round trip: 128 slots and batch 64 per process
    /// delivered 5 600–7 400 jobs/s on one machine's PostgreSQL in BENCHMARKS.md, 64 / 32 about half that.
    pub const fn batch(mut self, n: usize) -> Self {
        self.settings.batch = n;
        self
    }

    /// How long a lease lasts (default 60 s; extended every lease/3 while an attempt runs). Must exceed the
    /// longest endpoint timeout by more than [`LEASE_MARGIN`].
    pub const fn lease(mut self, lease: Duration) -> Self {
        self.settings.lease = lease;
        self
    }

    /// The longest an idle process waits before looking for due jobs again (default 250 ms; an enqueue, a
    /// replay or a freed slot wakes it at once, and it wakes when the queue says the next job is due).
    pub const fn poll_interval(mut self, d: Duration) -> Self {
        self.settings.poll_interval = d;
        self
    }

    /// How long a job held back by a race (a breaker that opened after it was leased, a probe in flight)
    /// waits before it is due again, plus jitter (default 1 s).
    pub const fn defer_delay(mut self, d: Duration) -> Self {
        self.settings.defer_delay = d;
        self
    }

    /// The retry policy (default: the Standard Webhooks schedule).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry = policy;
        self
    }

    /// The statuses that dead-letter at once (default: 400, 401, 403, 404, 405, 413, 415, 422).
    pub const fn permanent_statuses(mut self, statuses: PermanentStatuses) -> Self {
        self.settings.permanent = statuses;
        self
    }

    /// The longest `Retry-After` honoured (default 24 h); longer values are clamped to it.
    ///
    /// A receiver's `Retry-After` (on any status) can only delay a retry beyond the [`RetryPolicy`]'s next
    /// delay, never bring it forward.
    pub const fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.settings.retry_after_cap = cap;
        self
    }

    /// How many bytes of each response body are recorded with the attempt (default 1024).
    pub const fn response_body_limit(mut self, n: usize) -> Self {
        self.settings.response_body_limit = n;
        self
    }

    /// The TCP/TLS connect timeout (default 5 s; the endpoint's timeout bounds the whole attempt).
    pub const fn connect_timeout(mut self, d: Duration) -> Self {
        self.settings.connect_timeout = d;
        self
    }

    /// How long delivered jobs are kept (default 76 h). Jobs not yet finished keep their whole history.
    pub const fn retention(mut self, d: Duration) -> Self {
        self.settings.retention = d;
        self
    }

    /// Jobs older than this dead-letter `expired` (default 7 days), so deferrals and pauses cannot outlive
    /// the receiver's idempotency retention unnoticed.
    pub const fn max_age(mut self, d: Duration) -> Self {
        self.settings.max_age = d;
        self
    }

    /// After this many consecutive lapsed leases (its worker died on it each time) a job dead-letters
    /// `lease-expired` (default 3).
    pub const fn max_lapses(mut self, n: u32) -> Self {
        self.settings.max_lapses = n;
        self
    }

    /// How often the reaper returns lapsed leases, expires old jobs, prunes, refreshes endpoint state and
    /// updates the queue gauges (default 5 s).
    pub const fn reap_interval(mut self, d: Duration) -> Self {
        self.settings.reap_interval = d;
        self
    }

    /// The time limit on every queue call (default 5 s); a call over it counts as unavailable and is retried.
    pub const fn queue_timeout(mut self, d: Duration) -> Self {
        self.settings.queue_timeout = d;
        self
    }

    /// Circuit breaker settings (default: 5 consecutive failures, 60 s cooldown).
    pub const fn circuit_breaker(mut self, threshold: u32, cooldown: Duration) -> Self {
        self.settings.breaker_threshold = threshold;
        self.settings.breaker_cooldown = cooldown;
        self
    }

    /// Allows private, loopback and link-local targets (tests, demos, internal networks).
    ///
    /// # Security
    /// Without this, an endpoint URL supplied by a tenant cannot make the sender reach internal services
    /// (cloud metadata at 169.254.169.254, admin ports on localhost, …). Only allow it when every endpoint
    /// URL is trusted.
    pub const fn allow_private_networks(mut self) -> Self {
        self.settings.allow_private = true;
        self
    }

    /// Validates the configuration and builds the sender (no task is started; see [`Sender::spawn`]).
    ///
    /// # Errors
    /// A [`ConfigError`]: invalid or refused URL, bad key, duplicate id, zero settings, or a lease not longer
    /// than the longest endpoint timeout plus [`LEASE_MARGIN`].
    pub fn build(self) -> Result<Sender<Q>, ConfigError> {
        let s = self.settings;
        for (value, name) in [
            (s.workers, "workers"),
            (s.batch, "batch"),
            (s.reap_limit, "reap_limit"),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if s.max_lapses == 0 {
            return Err(ConfigError::Zero("max_lapses"));
        }
        // Zero here would make a worker, the reaper or a held-back job spin.
        for (value, name) in [
            (s.poll_interval, "poll_interval"),
            (s.reap_interval, "reap_interval"),
            (s.defer_delay, "defer_delay"),
            (s.queue_timeout, "queue_timeout"),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Zero(name));
            }
        }
        let now = self.clock.now();
        let mut endpoints = HashMap::new();
        let mut order = Vec::new();
        let mut longest = Duration::ZERO;
        for ep in self.endpoints {
            let rt = EndpointRuntime::new(ep, s.allow_private, &s, now)?;
            longest = longest.max(rt.config.timeout);
            if endpoints.contains_key(&rt.config.id) {
                return Err(ConfigError::DuplicateEndpoint(rt.config.id));
            }
            order.push(rt.config.id.clone());
            endpoints.insert(rt.config.id.clone(), Arc::new(rt));
        }
        // Each request in flight holds a slot until it ends; a hanging endpoint must leave one free.
        if endpoints.len() > 1
            && let Some(ep) = endpoints
                .values()
                .find(|ep| ep.config.max_in_flight >= s.workers)
        {
            return Err(ConfigError::MaxInFlightNotBelowWorkers {
                endpoint: ep.config.id.clone(),
                max_in_flight: ep.config.max_in_flight,
                workers: s.workers,
            });
        }
        let required = longest + LEASE_MARGIN;
        if s.lease <= required {
            return Err(ConfigError::LeaseTooShort {
                lease: s.lease,
                required,
            });
        }
        let transport_enforces_timeout = self.transport.is_none();
        let transport = match self.transport {
            Some(t) => t,
            None => {
                // reqwest is built without a default crypto provider (no aws-lc): use ring. Fails harmlessly if
                // the application installed a provider already.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let mut client = reqwest::Client::builder()
                    .connect_timeout(s.connect_timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .tcp_nodelay(true)
                    .user_agent(concat!("hookguard-sender/", env!("CARGO_PKG_VERSION")));
                if !s.allow_private {
                    client = client.dns_resolver(GuardedResolver);
                }
                Arc::new(ReqwestTransport::new(
                    client.build().map_err(ConfigError::Client)?,
                ))
            }
        };
        super::telemetry::register(&order);
        Ok(Sender {
            shared: Arc::new(Shared {
                queue: self.queue,
                clock: self.clock,
                endpoints,
                order,
                transport,
                transport_enforces_timeout,
                settings: s,
                wake: Notify::new(),
                freed: Notify::new(),
            }),
        })
    }
}
