//! What the admin router works on: a [`Sender`] (its queue, plus this process's breakers and in-flight
//! counts) or a bare [`Queue`], behind one object-safe trait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::queue::{
    DeadLetterFilter, DeadLetterPage, EndpointState, JobId, JobRecord, Page, Progress, Queue,
    QueueError, QueueStats,
};
use crate::{BreakerState, Clock, Sender, Timestamp};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, QueueError>> + Send + 'a>>;

/// What this process knows of a configured endpoint (per process, like the breaker itself).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Live {
    pub(crate) breaker: BreakerState,
    pub(crate) in_flight: usize,
}

/// An operator's change to an endpoint's shared state.
#[derive(Clone, Debug)]
pub(crate) enum Change {
    Pause(Timestamp),
    Resume,
    Enable,
    Disable(String),
}

impl Change {
    /// The change applied to a stored state (the queue-only path; a sender does the same in its methods).
    fn apply(&self, s: &mut EndpointState) {
        match self {
            Self::Pause(until) => {
                s.paused_until = Some(*until);
                s.reason = Some("paused".into());
            }
            Self::Resume => {
                s.paused_until = None;
                s.reason = Some("resumed".into());
            }
            Self::Enable => {
                s.enabled = true;
                s.reason = Some("enabled".into());
            }
            Self::Disable(reason) => {
                s.enabled = false;
                s.reason = Some(reason.clone());
            }
        }
    }
}

pub(crate) trait Backend: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// The configured endpoints, in configuration order (none for a bare queue).
    fn configured(&self) -> Vec<String>;
    /// This process's view of a configured endpoint.
    fn live(&self, endpoint_id: &str) -> Option<Live>;
    fn get(&self, id: JobId) -> BoxFuture<'_, Option<JobRecord>>;
    fn dead_letters<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        page: Page,
    ) -> BoxFuture<'a, DeadLetterPage>;
    fn replay(&self, id: JobId) -> BoxFuture<'_, ()>;
    fn replay_all<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        limit: usize,
    ) -> BoxFuture<'a, Progress>;
    fn purge<'a>(&'a self, filter: &'a DeadLetterFilter, limit: usize) -> BoxFuture<'a, Progress>;
    fn stats(&self) -> BoxFuture<'_, QueueStats>;
    fn endpoint_stats(&self) -> BoxFuture<'_, Vec<(String, QueueStats)>>;
    fn endpoint_states(&self) -> BoxFuture<'_, Vec<(String, EndpointState)>>;
    fn change<'a>(&'a self, endpoint_id: &'a str, change: Change) -> BoxFuture<'a, ()>;
}

/// The queue calls, the same for both implementations.
macro_rules! queue_calls {
    ($queue:ident) => {
        fn get(&self, id: JobId) -> BoxFuture<'_, Option<JobRecord>> {
            Box::pin(Queue::get(self.$queue(), id))
        }
        fn dead_letters<'a>(
            &'a self,
            filter: &'a DeadLetterFilter,
            page: Page,
        ) -> BoxFuture<'a, DeadLetterPage> {
            Box::pin(Queue::dead_letters(self.$queue(), filter, page))
        }
        fn replay(&self, id: JobId) -> BoxFuture<'_, ()> {
            Box::pin(Queue::replay(self.$queue(), id, Backend::now(self)))
        }
        fn replay_all<'a>(
            &'a self,
            filter: &'a DeadLetterFilter,
            limit: usize,
        ) -> BoxFuture<'a, Progress> {
            Box::pin(Queue::replay_all(
                self.$queue(),
                filter,
                Backend::now(self),
                limit,
            ))
        }
        fn purge<'a>(
            &'a self,
            filter: &'a DeadLetterFilter,
            limit: usize,
        ) -> BoxFuture<'a, Progress> {
            Box::pin(Queue::purge(self.$queue(), filter, limit))
        }
        fn stats(&self) -> BoxFuture<'_, QueueStats> {
            Box::pin(Queue::stats(self.$queue(), Backend::now(self)))
        }
        fn endpoint_stats(&self) -> BoxFuture<'_, Vec<(String, QueueStats)>> {
            Box::pin(Queue::endpoint_stats(self.$queue(), Backend::now(self)))
        }
        fn endpoint_states(&self) -> BoxFuture<'_, Vec<(String, EndpointState)>> {
            Box::pin(Queue::endpoint_states(self.$queue()))
        }
    };
}

impl<Q: Queue> Backend for Sender<Q> {
    fn now(&self) -> Timestamp {
        Self::now(self)
    }
    fn configured(&self) -> Vec<String> {
        self.endpoint_ids().map(str::to_owned).collect()
    }
    fn live(&self, endpoint_id: &str) -> Option<Live> {
        Some(Live {
            breaker: self.breaker_state(endpoint_id)?,
            in_flight: self.in_flight(endpoint_id)?,
        })
    }
    queue_calls!(queue);
    fn change<'a>(&'a self, endpoint_id: &'a str, change: Change) -> BoxFuture<'a, ()> {
        // Through the sender: this process sees the change at once and its leaser looks again.
        Box::pin(async move {
            match change {
                Change::Pause(until) => self.pause(endpoint_id, until).await,
                Change::Resume => self.resume(endpoint_id).await,
                Change::Enable => self.enable(endpoint_id).await,
                Change::Disable(reason) => self.disable(endpoint_id, &reason).await,
            }
        })
    }
}

/// A queue without a sender in this process (an admin-only process): no breaker or in-flight figures.
pub(crate) struct QueueOnly<Q> {
    pub(crate) queue: Q,
    pub(crate) clock: Arc<dyn Clock>,
}

impl<Q> QueueOnly<Q> {
    const fn queue(&self) -> &Q {
        &self.queue
    }
}

impl<Q: Queue> Backend for QueueOnly<Q> {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }
    fn configured(&self) -> Vec<String> {
        Vec::new()
    }
    fn live(&self, _: &str) -> Option<Live> {
        None
    }
    queue_calls!(queue);
    fn change<'a>(&'a self, endpoint_id: &'a str, change: Change) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.queue.endpoint_state(endpoint_id).await?;
            change.apply(&mut state);
            state.changed_at = Some(self.clock.now());
            self.queue.set_endpoint_state(endpoint_id, state).await
        })
    }
}
