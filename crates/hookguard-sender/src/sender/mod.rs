//! [`Sender`]: persists events as jobs and delivers them with workers.
//!
//! Each concern has its file: [`builder`] (configuration), [`event`] (ids, fan-out, `jobs_for`),
//! [`admission`] (enabled, paused, in-flight, breaker, rate limit → lease options and admit / defer /
//! dead-letter), [`attempt`] (sign, POST, bounded read, `Retry-After`), [`disposition`] (the pure retry
//! decision), [`worker`] (the leaser, supervision), [`slot`] (the slot tasks; one job: heartbeat,
//! decision; the conclude flusher), [`reaper`],
//! [`shutdown`] and [`telemetry`] (every metric and log line).

mod admission;
mod attempt;
mod builder;
mod disposition;
mod event;
mod reaper;
mod shutdown;
mod slot;
mod telemetry;
mod worker;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::queue::{EndpointState, Queue, QueueError};
use crate::transport::Transport;
use crate::{BreakerState, Clock, SystemClock, Timestamp};
use admission::EndpointRuntime;
use builder::Settings;

pub use builder::{LEASE_MARGIN, SenderBuilder};
pub use event::{Enqueued, Event};
pub use shutdown::Workers;

pub(crate) struct Shared<Q> {
    pub(crate) queue: Q,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) endpoints: HashMap<String, Arc<EndpointRuntime>>,
    pub(crate) order: Vec<String>,
    pub(crate) transport: Arc<dyn Transport>,
    /// The transport is the default one, which ends every attempt within its endpoint's timeout.
    pub(crate) transport_enforces_timeout: bool,
    pub(crate) settings: Settings,
    /// New work from this process (an enqueue, a replay, a state change): the leaser looks at once.
    pub(crate) wake: Notify,
    /// A conclusion gave back a slot and an in-flight place: the leaser re-checks admission (no queue call).
    pub(crate) freed: Notify,
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
/// Breaker, rate limit and `max_in_flight` are per process: N sender processes on one queue allow up to N×.
///
/// Cheap to clone (an `Arc`).
pub struct Sender<Q = crate::MemoryQueue> {
    pub(crate) shared: Arc<Shared<Q>>,
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
            transport: None,
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

    /// How many of an endpoint's jobs this process has leased and not concluded yet, or `None` for an
    /// unknown endpoint. Per process, like the breaker and `max_in_flight`.
    pub fn in_flight(&self, endpoint_id: &str) -> Option<usize> {
        self.shared
            .endpoints
            .get(endpoint_id)
            .map(|e| e.in_flight.load(std::sync::atomic::Ordering::Acquire))
    }

    async fn update_state(
        &self,
        endpoint_id: &str,
        f: impl FnOnce(&mut EndpointState),
    ) -> Result<(), QueueError> {
        let mut state = self.shared.queue.endpoint_state(endpoint_id).await?;
        f(&mut state);
        state.changed_at = Some(self.now());
        self.shared
            .queue
            .set_endpoint_state(endpoint_id, state.clone())
            .await?;
        if let Some(ep) = self.shared.endpoints.get(endpoint_id) {
            ep.set_state(state);
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Pauses an endpoint until `until`: no deliveries and no dead-lettering; its jobs wait (every process
    /// sees it within a reaper interval).
    ///
    /// # Errors
    /// The queue's error.
    pub async fn pause(&self, endpoint_id: &str, until: Timestamp) -> Result<(), QueueError> {
        self.update_state(endpoint_id, |s| {
            s.paused_until = Some(until);
            s.reason = Some("paused".into());
        })
        .await
    }

    /// Ends a pause.
    ///
    /// # Errors
    /// The queue's error.
    pub async fn resume(&self, endpoint_id: &str) -> Result<(), QueueError> {
        self.update_state(endpoint_id, |s| {
            s.paused_until = None;
            s.reason = Some("resumed".into());
        })
        .await
    }

    /// Disables an endpoint: its due jobs are dead-lettered `endpoint-disabled` without an attempt.
    ///
    /// # Errors
    /// The queue's error.
    pub async fn disable(&self, endpoint_id: &str, reason: &str) -> Result<(), QueueError> {
        self.update_state(endpoint_id, |s| {
            s.enabled = false;
            s.reason = Some(reason.to_owned());
        })
        .await
    }

    /// Enables an endpoint again (after a 410 or [`disable`](Self::disable)); replay its dead letters next.
    ///
    /// # Errors
    /// The queue's error.
    pub async fn enable(&self, endpoint_id: &str) -> Result<(), QueueError> {
        self.update_state(endpoint_id, |s| {
            s.enabled = true;
            s.reason = Some("enabled".into());
        })
        .await
    }

    /// Reads every endpoint's shared state from the queue into this process (the reaper does this every
    /// interval, so the hot path never asks the queue).
    ///
    /// # Errors
    /// The queue's error.
    pub async fn refresh_endpoint_states(&self) -> Result<(), QueueError> {
        let states: HashMap<_, _> = self
            .call(|| self.shared.queue.endpoint_states())
            .await?
            .into_iter()
            .collect();
        for (id, ep) in &self.shared.endpoints {
            ep.set_state(states.get(id).cloned().unwrap_or_default());
        }
        Ok(())
    }
}
