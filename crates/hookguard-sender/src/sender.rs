//! [`Sender`]: persists events as jobs and delivers them with workers.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookguard::Signer;
use http::HeaderValue;
use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::breaker::{Admission, CircuitBreaker};
use crate::error::{ConfigError, SendError};
use crate::metrics as m;
use crate::outcome::{Outcome, PermanentStatuses, classify, is_breaker_failure, parse_retry_after};
use crate::queue::{
    Attempt, AttemptErrorKind, AttemptResult, DeadLetterReason, JobId, Leased, NewJob, Queue,
    QueueError,
};
use crate::rate_limit::TokenBucket;
use crate::ssrf::{GuardedResolver, is_blocked, is_forbidden};
use crate::{BreakerState, Clock, Endpoint, RetryPolicy, SystemClock, Timestamp};

/// The lease must exceed the longest endpoint timeout by more than this.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// How much of a response body is read at most (the recorded prefix is shorter).
const MAX_DRAIN: usize = 64 * 1024;

/// An event to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The event id, sent as `webhook-id` (the receiver's idempotency key); generated (`msg_…`) if `None`.
    pub id: Option<String>,
    /// The event type (`invoice.paid`).
    pub event_type: String,
    /// The JSON body.
    pub payload: Bytes,
}

impl Event {
    /// An event with a generated id.
    #[must_use]
    pub fn new(event_type: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            id: None,
            event_type: event_type.into(),
            payload: payload.into(),
        }
    }

    /// Uses the caller's event id (sending it twice to one endpoint returns the existing job).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

fn valid_event_id(id: &str) -> bool {
    (1..=256).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

fn new_event_id() -> String {
    format!("msg_{:032x}", rand::random::<u128>())
}

/// One job created by [`Sender::publish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// The endpoint.
    pub endpoint_id: String,
    /// The job.
    pub job_id: JobId,
}

/// Builds a [`Sender`]. See [`Sender::builder`].
#[must_use]
pub struct SenderBuilder<Q> {
    queue: Q,
    endpoints: Vec<Endpoint>,
    clock: Arc<dyn Clock>,
    settings: Settings,
}

impl<Q> fmt::Debug for SenderBuilder<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderBuilder")
            .field("endpoints", &self.endpoints)
            .field("clock", &self.clock)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
struct Settings {
    workers: usize,
    batch: usize,
    lease: Duration,
    poll_interval: Duration,
    defer_delay: Duration,
    retry: RetryPolicy,
    permanent: PermanentStatuses,
    retry_after_cap: Duration,
    response_body_limit: usize,
    connect_timeout: Duration,
    retention: Duration,
    reap_interval: Duration,
    breaker_threshold: u32,
    breaker_cooldown: Duration,
    allow_private: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            workers: 4,
            batch: 1,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(250),
            defer_delay: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            permanent: PermanentStatuses::default(),
            retry_after_cap: Duration::from_secs(24 * 3600),
            response_body_limit: 1024,
            connect_timeout: Duration::from_secs(5),
            retention: Duration::from_secs(76 * 3600),
            reap_interval: Duration::from_secs(5),
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

    /// The clock every time decision reads (default: [`SystemClock`]); tests pass a
    /// [`TestClock`](crate::TestClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How many worker tasks [`Sender::spawn`] starts (default 4).
    pub const fn workers(mut self, n: usize) -> Self {
        self.settings.workers = n;
        self
    }

    /// How many jobs a worker leases at a time (default 1; they are delivered concurrently).
    pub const fn batch(mut self, n: usize) -> Self {
        self.settings.batch = n;
        self
    }

    /// How long a lease lasts (default 60 s). Must exceed the longest endpoint timeout by more than
    /// [`LEASE_MARGIN`].
    pub const fn lease(mut self, lease: Duration) -> Self {
        self.settings.lease = lease;
        self
    }

    /// How often an idle worker looks for due jobs (default 250 ms; an enqueue wakes workers at once).
    pub const fn poll_interval(mut self, d: Duration) -> Self {
        self.settings.poll_interval = d;
        self
    }

    /// How long a job held back by `max_in_flight` (or a probe in flight) waits before it is due again
    /// (default 1 s).
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

    /// How long delivered jobs (and attempts of live jobs) are kept (default 76 h).
    pub const fn retention(mut self, d: Duration) -> Self {
        self.settings.retention = d;
        self
    }

    /// How often the reaper returns lapsed leases, prunes and updates the queue gauges (default 5 s).
    pub const fn reap_interval(mut self, d: Duration) -> Self {
        self.settings.reap_interval = d;
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
        for (value, name) in [(s.workers, "workers"), (s.batch, "batch")] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        // Zero here would make a worker, the reaper or a held-back job spin.
        for (value, name) in [
            (s.poll_interval, "poll_interval"),
            (s.reap_interval, "reap_interval"),
            (s.defer_delay, "defer_delay"),
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
        // Each request in flight holds a worker until it ends; a hanging endpoint must leave one free.
        if endpoints.len() > 1 {
            if let Some(ep) = endpoints
                .values()
                .find(|ep| ep.config.max_in_flight >= s.workers)
            {
                return Err(ConfigError::MaxInFlightNotBelowWorkers {
                    endpoint: ep.config.id.clone(),
                    max_in_flight: ep.config.max_in_flight,
                    workers: s.workers,
                });
            }
        }
        let required = longest + LEASE_MARGIN;
        if s.lease <= required {
            return Err(ConfigError::LeaseTooShort {
                lease: s.lease,
                required,
            });
        }
        // reqwest is built without a default crypto provider (no aws-lc): use ring. Fails harmlessly if the
        // application installed a provider already.
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
        let client = client.build().map_err(ConfigError::Client)?;
        Ok(Sender {
            shared: Arc::new(Shared {
                queue: self.queue,
                clock: self.clock,
                endpoints,
                order,
                client,
                settings: s,
                wake: Notify::new(),
            }),
        })
    }
}

/// An endpoint with its signer, breaker, bucket and in-flight limit.
struct EndpointRuntime {
    config: Endpoint,
    url: reqwest::Url,
    signer: Signer,
    breaker: CircuitBreaker,
    bucket: Option<TokenBucket>,
    in_flight: Arc<Semaphore>,
}

impl EndpointRuntime {
    fn new(
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
        if let Ok(addr) = literal {
            if !allow_private && is_forbidden(addr) {
                return Err(ConfigError::ForbiddenTarget { endpoint: id, addr });
            }
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
        let bucket = match config.rate_limit {
            Some(limit) if !limit.is_valid() => {
                return Err(ConfigError::InvalidRateLimit { endpoint: id });
            }
            Some(limit) => Some(TokenBucket::new(limit, now)),
            None => None,
        };
        Ok(Self {
            url,
            signer,
            breaker: CircuitBreaker::new(s.breaker_threshold, s.breaker_cooldown),
            bucket,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            config,
        })
    }
}

struct Shared<Q> {
    queue: Q,
    clock: Arc<dyn Clock>,
    endpoints: HashMap<String, Arc<EndpointRuntime>>,
    order: Vec<String>,
    client: reqwest::Client,
    settings: Settings,
    wake: Notify,
}

/// Persists events as jobs (returning at once: the 202 pattern) and delivers them with workers.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use hookguard_sender::{Endpoint, Event, MemoryQueue, Sender};
///
/// let sender = Sender::builder(MemoryQueue::new())
///     .endpoint(Endpoint::new("billing", "https://billing.example.com/hooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
///     .build()?;
/// let workers = sender.spawn();
/// sender.publish("invoice.paid", br#"{"invoice":"in_1"}"#.as_slice()).await?;
/// // ... on shutdown:
/// workers.shutdown(std::time::Duration::from_secs(10)).await;
/// # Ok(()) }
/// ```
///
/// Cheap to clone (an `Arc`).
pub struct Sender<Q = crate::MemoryQueue> {
    shared: Arc<Shared<Q>>,
}

impl<Q> Clone for Sender<Q> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<Q> fmt::Debug for Sender<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("endpoints", &self.shared.order)
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl<Q: Queue> Sender<Q> {
    /// A builder around `queue`.
    pub fn builder(queue: Q) -> SenderBuilder<Q> {
        SenderBuilder {
            queue,
            endpoints: Vec::new(),
            clock: Arc::new(SystemClock),
            settings: Settings::default(),
        }
    }

    /// The queue (for the dead-letter queue: list, replay, purge; and for stats).
    pub fn queue(&self) -> &Q {
        &self.shared.queue
    }

    /// The sender's clock's current time.
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// The configured endpoint ids, in configuration order.
    pub fn endpoint_ids(&self) -> impl Iterator<Item = &str> {
        self.shared.order.iter().map(String::as_str)
    }

    /// An endpoint's circuit breaker state now, or `None` for an unknown endpoint.
    pub fn breaker_state(&self, endpoint_id: &str) -> Option<BreakerState> {
        let now = self.now();
        self.shared
            .endpoints
            .get(endpoint_id)
            .map(|e| e.breaker.state(now))
    }

    /// Persists `event` for one endpoint and returns at once. Sending the same event id to the same
    /// endpoint again returns the existing job.
    ///
    /// # Errors
    /// [`SendError::UnknownEndpoint`], [`SendError::InvalidEventId`], or the queue's error.
    pub async fn send(&self, endpoint_id: &str, event: Event) -> Result<JobId, SendError> {
        let ep = self
            .shared
            .endpoints
            .get(endpoint_id)
            .ok_or_else(|| SendError::UnknownEndpoint(endpoint_id.to_owned()))?;
        let id = match event.id {
            Some(id) if !valid_event_id(&id) => return Err(SendError::InvalidEventId),
            Some(id) => id,
            None => new_event_id(),
        };
        let job = self.new_job(&ep.config.id, id, event.event_type, event.payload);
        let job_id = self.shared.queue.enqueue(job).await?;
        self.shared.wake.notify_waiters();
        Ok(job_id)
    }

    /// Persists an event of `event_type` (with a generated id) for every endpoint subscribed to it.
    ///
    /// # Errors
    /// The queue's error (jobs enqueued before it stay enqueued).
    pub async fn publish(
        &self,
        event_type: &str,
        payload: impl Into<Bytes>,
    ) -> Result<Vec<Enqueued>, SendError> {
        self.publish_event(Event::new(event_type, payload)).await
    }

    /// Like [`publish`](Self::publish), with the caller's event id (if any) used for every endpoint.
    ///
    /// # Errors
    /// [`SendError::InvalidEventId`] or the queue's error.
    pub async fn publish_event(&self, event: Event) -> Result<Vec<Enqueued>, SendError> {
        let id = match event.id {
            Some(id) if !valid_event_id(&id) => return Err(SendError::InvalidEventId),
            Some(id) => id,
            None => new_event_id(),
        };
        let mut out = Vec::new();
        for endpoint_id in &self.shared.order {
            let ep = &self.shared.endpoints[endpoint_id];
            if !ep.config.subscribes_to(&event.event_type) {
                continue;
            }
            let job = self.new_job(
                endpoint_id,
                id.clone(),
                event.event_type.clone(),
                event.payload.clone(),
            );
            let job_id = self.shared.queue.enqueue(job).await?;
            out.push(Enqueued {
                endpoint_id: endpoint_id.clone(),
                job_id,
            });
        }
        self.shared.wake.notify_waiters();
        Ok(out)
    }

    fn new_job(
        &self,
        endpoint_id: &str,
        event_id: String,
        event_type: String,
        payload: Bytes,
    ) -> NewJob {
        let now = self.now();
        NewJob::new(endpoint_id, event_id, event_type, payload, now)
            .scheduled_at(now + self.shared.settings.retry.first_delay())
    }

    /// One worker round: leases up to `max` due jobs and handles them concurrently (deliver, defer or
    /// dead-letter), returning how many were leased. Workers call this in a loop; tests driving a
    /// [`TestClock`](crate::TestClock) can call it directly.
    ///
    /// # Errors
    /// The queue's error when leasing fails (errors ending a lease are logged: the reaper recovers the job).
    pub async fn process_due(&self, max: usize) -> Result<usize, QueueError> {
        let (_tx, rx) = watch::channel(false);
        self.process_round(max, &rx).await
    }

    async fn process_round(
        &self,
        max: usize,
        abort: &watch::Receiver<bool>,
    ) -> Result<usize, QueueError> {
        let now = self.now();
        let leased = self
            .shared
            .queue
            .lease(now, max, self.shared.settings.lease)
            .await?;
        let n = leased.len();
        if n == 1 {
            let one = leased.into_iter().next().expect("one leased job");
            self.handle(one, abort.clone()).await;
        } else {
            let mut set = tokio::task::JoinSet::new();
            for l in leased {
                let this = self.clone();
                let abort = abort.clone();
                set.spawn(async move { this.handle(l, abort).await });
            }
            while set.join_next().await.is_some() {}
        }
        Ok(n)
    }

    /// Handles one leased job; errors from the queue are logged (the lease then lapses and the reaper
    /// returns the job).
    async fn handle(&self, leased: Leased, abort: watch::Receiver<bool>) {
        if let Err(e) = self.try_handle(leased, abort).await {
            tracing::warn!(error = %e, "queue error ending a lease; the reaper will recover the job");
        }
    }

    async fn try_handle(
        &self,
        leased: Leased,
        mut abort: watch::Receiver<bool>,
    ) -> Result<(), QueueError> {
        let sh = &*self.shared;
        let q = &sh.queue;
        let now = self.now();
        let token = &leased.token;
        let Some(ep) = sh.endpoints.get(&leased.job.endpoint_id).cloned() else {
            q.dead_letter(token, now, None, DeadLetterReason::UnknownEndpoint)
                .await?;
            metrics::counter!(m::DELIVERIES_TOTAL, "endpoint" => leased.job.endpoint_id.clone(), "outcome" => "dead_lettered").increment(1);
            return Ok(());
        };
        if !ep.config.enabled || !q.is_enabled(&ep.config.id).await? {
            q.dead_letter(token, now, None, DeadLetterReason::EndpointDisabled)
                .await?;
            self.count_final(&ep, "dead_lettered");
            return Ok(());
        }
        // Held back: no attempt spent.
        let Ok(permit) = Arc::clone(&ep.in_flight).try_acquire_owned() else {
            q.defer(token, now + sh.settings.defer_delay).await?;
            return Ok(());
        };
        let mut probe = match ep.breaker.admit(now) {
            Admission::Allowed => None,
            Admission::Probe => Some(ProbeSlot(&ep.breaker)),
            Admission::Denied { retry_at } => {
                q.defer(token, retry_at.unwrap_or(now + sh.settings.defer_delay))
                    .await?;
                return Ok(());
            }
        };
        if let Some(bucket) = &ep.bucket {
            if let Err(at) = bucket.try_take(now) {
                drop(probe.take());
                q.defer(token, at).await?;
                return Ok(());
            }
        }
        let span = tracing::info_span!(
            "webhook_attempt",
            endpoint = %ep.config.id,
            job = %leased.job.id,
            event_id = %leased.job.event_id,
            attempt = leased.attempt,
            probe = probe.is_some(),
            status = tracing::field::Empty,
            error = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let attempt = tokio::select! {
            biased;
            a = self.attempt(&ep, &leased, now, permit).instrument(span.clone()) => a,
            () = aborted(&mut abort) => {
                drop(probe.take());
                q.release(token).await?;
                return Ok(());
            }
        };
        // `probe` lives on to the end: `conclude` records the outcome on the breaker, which ends the probe
        // and makes the slot's drop a no-op.
        let (attempt, retry_after) = attempt;
        span.record("latency_ms", attempt.latency.as_millis() as u64);
        match &attempt.result {
            AttemptResult::Status(s) => span.record("status", s),
            AttemptResult::Error { kind, .. } => span.record("error", kind.as_str()),
        };
        self.conclude(&ep, &leased, attempt, retry_after)
            .instrument(span)
            .await?;
        Ok(())
    }

    /// Signs and POSTs; returns the attempt record and any `Retry-After` delay.
    async fn attempt(
        &self,
        ep: &EndpointRuntime,
        leased: &Leased,
        now: Timestamp,
        _permit: OwnedSemaphorePermit,
    ) -> (Attempt, Option<Duration>) {
        let sh = &*self.shared;
        let job = &leased.job;
        let started = Instant::now();
        let mut retry_after = None;
        let result = match ep
            .signer
            .sign(&job.event_id, now.as_unix_seconds(), &job.payload)
        {
            Err(e) => Err((AttemptErrorKind::Request, format!("cannot sign: {e}"))),
            Ok(headers) => {
                let request = sh
                    .client
                    .post(ep.url.clone())
                    .headers(headers)
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .header(
                        USER_AGENT,
                        HeaderValue::from_static(concat!(
                            "hookguard-sender/",
                            env!("CARGO_PKG_VERSION")
                        )),
                    )
                    .timeout(ep.config.timeout)
                    .body(job.payload.clone());
                match request.send().await {
                    Err(e) => Err(describe(&e)),
                    Ok(mut response) => {
                        let status = response.status().as_u16();
                        retry_after = response
                            .headers()
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| parse_retry_after(v, self.now()));
                        let mut body = Vec::new();
                        let mut read = 0;
                        let mut failed = None;
                        while read < MAX_DRAIN {
                            match response.chunk().await {
                                Ok(Some(chunk)) => {
                                    read += chunk.len();
                                    let room =
                                        sh.settings.response_body_limit.saturating_sub(body.len());
                                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                                }
                                Ok(None) => break,
                                Err(e) => {
                                    failed = Some(describe(&e));
                                    break;
                                }
                            }
                        }
                        match failed {
                            // The status arrived but the body broke off: not a clean answer, so retry
                            // (the receiver dedupes on the event id).
                            Some((kind, msg)) => {
                                Err((kind, format!("status {status}, then: {msg}")))
                            }
                            None => Ok((status, String::from_utf8_lossy(&body).into_owned())),
                        }
                    }
                }
            }
        };
        let latency = started.elapsed();
        metrics::histogram!(m::DELIVERY_SECONDS, "endpoint" => ep.config.id.clone())
            .record(latency.as_secs_f64());
        // A Retry-After counts even when the body then broke off: the receiver asked for the pause.
        let attempt = match result {
            Ok((status, body)) => {
                let mut a =
                    Attempt::new(leased.attempt, now, AttemptResult::Status(status), latency);
                a.response_body = body;
                a
            }
            Err((kind, message)) => Attempt::new(
                leased.attempt,
                now,
                AttemptResult::Error { kind, message },
                latency,
            ),
        };
        (attempt, retry_after)
    }

    /// Records the attempt and moves the job on, per the outcome rules.
    async fn conclude(
        &self,
        ep: &EndpointRuntime,
        leased: &Leased,
        attempt: Attempt,
        retry_after: Option<Duration>,
    ) -> Result<(), QueueError> {
        let sh = &*self.shared;
        let q = &sh.queue;
        let token = &leased.token;
        let now = self.now();
        let status = attempt.result.status();
        let outcome = status.map_or(Outcome::Retry, |s| classify(s, &sh.settings.permanent));
        let result_label = match (outcome, &attempt.result) {
            (Outcome::Delivered, _) => "success",
            (Outcome::Gone, _) => "gone",
            (Outcome::Permanent, _) => "permanent",
            (Outcome::Retry, AttemptResult::Status(_)) => "retry_status",
            (Outcome::Retry, AttemptResult::Error { kind, .. }) => kind.as_str(),
        };
        metrics::counter!(m::DELIVERY_ATTEMPTS_TOTAL, "endpoint" => ep.config.id.clone(), "result" => result_label)
            .increment(1);
        if is_breaker_failure(status) && outcome == Outcome::Retry {
            if ep.breaker.record_failure(now) {
                tracing::warn!(endpoint = %ep.config.id, "circuit breaker opened");
                metrics::gauge!(m::BREAKER_OPEN, "endpoint" => ep.config.id.clone()).set(1.0);
            }
        } else {
            if !matches!(ep.breaker.state(now), BreakerState::Closed { .. }) {
                tracing::info!(endpoint = %ep.config.id, "circuit breaker closed");
            }
            ep.breaker.record_success();
            metrics::gauge!(m::BREAKER_OPEN, "endpoint" => ep.config.id.clone()).set(0.0);
        }
        match outcome {
            Outcome::Delivered => {
                q.ack(token, attempt).await?;
                self.count_final(ep, "delivered");
            }
            Outcome::Gone => {
                tracing::warn!(endpoint = %ep.config.id, "410 Gone: endpoint disabled");
                q.set_enabled(&ep.config.id, false).await?;
                q.dead_letter(token, now, Some(attempt), DeadLetterReason::EndpointGone)
                    .await?;
                self.count_final(ep, "dead_lettered");
            }
            Outcome::Permanent => {
                let reason = DeadLetterReason::PermanentStatus(status.unwrap_or_default());
                q.dead_letter(token, now, Some(attempt), reason).await?;
                self.count_final(ep, "dead_lettered");
            }
            Outcome::Retry => match sh.settings.retry.delay_after(leased.attempt) {
                None => {
                    q.dead_letter(
                        token,
                        now,
                        Some(attempt),
                        DeadLetterReason::AttemptsExhausted,
                    )
                    .await?;
                    self.count_final(ep, "dead_lettered");
                }
                Some(delay) => {
                    // Retry-After may only lengthen the wait: a `Retry-After: 0` from a struggling server
                    // must not spend the whole attempt budget in seconds.
                    let delay = retry_after
                        .map_or(delay, |ra| delay.max(ra.min(sh.settings.retry_after_cap)));
                    q.retry_at(token, now + delay, attempt).await?;
                }
            },
        }
        Ok(())
    }

    fn count_final(&self, ep: &EndpointRuntime, outcome: &'static str) {
        metrics::counter!(m::DELIVERIES_TOTAL, "endpoint" => ep.config.id.clone(), "outcome" => outcome).increment(1);
    }

    /// One reaper round: returns lapsed leases, prunes past the retention and updates the queue gauges.
    ///
    /// # Errors
    /// The queue's error.
    pub async fn reap(&self) -> Result<usize, QueueError> {
        let q = &self.shared.queue;
        let now = self.now();
        let reaped = q.reap(now).await?;
        if reaped > 0 {
            tracing::warn!(reaped, "returned jobs whose lease lapsed");
            self.shared.wake.notify_waiters();
        }
        q.prune(now - self.shared.settings.retention).await?;
        let stats = q.stats(now).await?;
        metrics::gauge!(m::QUEUE_JOBS, "state" => "due").set(stats.due as f64);
        metrics::gauge!(m::QUEUE_JOBS, "state" => "scheduled").set(stats.scheduled as f64);
        metrics::gauge!(m::QUEUE_JOBS, "state" => "in_flight").set(stats.in_flight as f64);
        metrics::gauge!(m::DEAD_LETTERS).set(stats.dead as f64);
        Ok(reaped)
    }

    /// Starts the workers and the reaper on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(&self) -> Workers {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (abort_tx, abort_rx) = watch::channel(false);
        let mut handles = Vec::new();
        for _ in 0..self.shared.settings.workers {
            let this = self.clone();
            let stop = stop_rx.clone();
            let abort = abort_rx.clone();
            handles.push(tokio::spawn(async move { this.worker(stop, abort).await }));
        }
        let this = self.clone();
        let mut stop = stop_rx;
        let reaper = tokio::spawn(async move {
            loop {
                if let Err(e) = this.reap().await {
                    tracing::warn!(error = %e, "reaper round failed");
                }
                tokio::select! {
                    () = tokio::time::sleep(this.shared.settings.reap_interval) => {}
                    () = aborted(&mut stop) => break,
                }
            }
        });
        Workers {
            workers: handles,
            reaper,
            stop: stop_tx,
            abort: abort_tx,
        }
    }

    async fn worker(self, mut stop: watch::Receiver<bool>, abort: watch::Receiver<bool>) {
        let batch = self.shared.settings.batch;
        while !*stop.borrow() {
            let wake = self.shared.wake.notified();
            match self.process_round(batch, &abort).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "leasing failed"),
            }
            tokio::select! {
                () = wake => {}
                () = tokio::time::sleep(self.shared.settings.poll_interval) => {}
                () = aborted(&mut stop) => {}
            }
        }
    }
}

/// A half-open breaker's one probe, handed back (so that another may go) if no outcome was recorded for it:
/// held back, aborted, or its future dropped. After an outcome the breaker is no longer probing and the drop
/// does nothing.
struct ProbeSlot<'a>(&'a CircuitBreaker);

impl Drop for ProbeSlot<'_> {
    fn drop(&mut self) {
        self.0.cancel_probe();
    }
}

/// Resolves once the flag is set; never if its sender is gone without setting it.
async fn aborted(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn describe(e: &reqwest::Error) -> (AttemptErrorKind, String) {
    let kind = if e.is_timeout() {
        AttemptErrorKind::Timeout
    } else if is_blocked(e) {
        AttemptErrorKind::Blocked
    } else if e.is_connect() {
        AttemptErrorKind::Connect
    } else if e.is_body() || e.is_decode() {
        AttemptErrorKind::Body
    } else {
        AttemptErrorKind::Request
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    (kind, message)
}

/// The running workers and reaper. Dropping this leaves them running; call [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct Workers {
    workers: Vec<JoinHandle<()>>,
    reaper: JoinHandle<()>,
    stop: watch::Sender<bool>,
    abort: watch::Sender<bool>,
}

impl Workers {
    /// Graceful shutdown: workers stop leasing and finish the attempts in progress; attempts still running
    /// after `grace` are abandoned and their jobs released (due again at once, no attempt spent).
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut workers = self.workers;
        let all = async {
            for w in &mut workers {
                let _ = w.await;
            }
        };
        if tokio::time::timeout(grace, all).await.is_err() {
            let _ = self.abort.send(true);
            for w in workers {
                // Handles awaited to completion above must not be polled again.
                if !w.is_finished() {
                    let _ = w.await;
                }
            }
        }
        let _ = self.reaper.await;
    }
}
