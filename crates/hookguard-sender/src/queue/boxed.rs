//! [`BoxedQueue`]: any [`Queue`] behind `dyn`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{
    Attempt, DeadLetterFilter, DeadLetterPage, DeadLetterReason, JobId, JobRecord, LeaseToken,
    Leased, NewJob, Page, Queue, QueueError, QueueStats,
};
use crate::Timestamp;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, QueueError>> + Send + 'a>>;

/// The object-safe twin of [`Queue`], implemented for every queue.
trait DynQueue: Send + Sync + 'static {
    fn enqueue(&self, job: NewJob) -> BoxFuture<'_, JobId>;
    fn lease(&self, now: Timestamp, max: usize, lease_for: Duration) -> BoxFuture<'_, Vec<Leased>>;
    fn ack<'a>(&'a self, token: &'a LeaseToken, attempt: Attempt) -> BoxFuture<'a, ()>;
    fn retry_at<'a>(
        &'a self,
        token: &'a LeaseToken,
        at: Timestamp,
        attempt: Attempt,
    ) -> BoxFuture<'a, ()>;
    fn defer<'a>(&'a self, token: &'a LeaseToken, at: Timestamp) -> BoxFuture<'a, ()>;
    fn dead_letter<'a>(
        &'a self,
        token: &'a LeaseToken,
        now: Timestamp,
        attempt: Option<Attempt>,
        reason: DeadLetterReason,
    ) -> BoxFuture<'a, ()>;
    fn release<'a>(&'a self, token: &'a LeaseToken) -> BoxFuture<'a, ()>;
    fn extend<'a>(&'a self, token: &'a LeaseToken, until: Timestamp) -> BoxFuture<'a, ()>;
    fn reap(&self, now: Timestamp) -> BoxFuture<'_, usize>;
    fn prune(&self, older_than: Timestamp) -> BoxFuture<'_, usize>;
    fn get(&self, id: JobId) -> BoxFuture<'_, Option<JobRecord>>;
    fn dead_letters<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        page: Page,
    ) -> BoxFuture<'a, DeadLetterPage>;
    fn replay(&self, id: JobId, now: Timestamp) -> BoxFuture<'_, ()>;
    fn replay_all<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        now: Timestamp,
    ) -> BoxFuture<'a, usize>;
    fn purge<'a>(&'a self, filter: &'a DeadLetterFilter) -> BoxFuture<'a, usize>;
    fn stats(&self, now: Timestamp) -> BoxFuture<'_, QueueStats>;
    fn set_enabled<'a>(&'a self, endpoint_id: &'a str, enabled: bool) -> BoxFuture<'a, ()>;
    fn is_enabled<'a>(&'a self, endpoint_id: &'a str) -> BoxFuture<'a, bool>;
}

impl<Q: Queue> DynQueue for Q {
    fn enqueue(&self, job: NewJob) -> BoxFuture<'_, JobId> {
        Box::pin(Queue::enqueue(self, job))
    }
    fn lease(&self, now: Timestamp, max: usize, lease_for: Duration) -> BoxFuture<'_, Vec<Leased>> {
        Box::pin(Queue::lease(self, now, max, lease_for))
    }
    fn ack<'a>(&'a self, token: &'a LeaseToken, attempt: Attempt) -> BoxFuture<'a, ()> {
        Box::pin(Queue::ack(self, token, attempt))
    }
    fn retry_at<'a>(
        &'a self,
        token: &'a LeaseToken,
        at: Timestamp,
        attempt: Attempt,
    ) -> BoxFuture<'a, ()> {
        Box::pin(Queue::retry_at(self, token, at, attempt))
    }
    fn defer<'a>(&'a self, token: &'a LeaseToken, at: Timestamp) -> BoxFuture<'a, ()> {
        Box::pin(Queue::defer(self, token, at))
    }
    fn dead_letter<'a>(
        &'a self,
        token: &'a LeaseToken,
        now: Timestamp,
        attempt: Option<Attempt>,
        reason: DeadLetterReason,
    ) -> BoxFuture<'a, ()> {
        Box::pin(Queue::dead_letter(self, token, now, attempt, reason))
    }
    fn release<'a>(&'a self, token: &'a LeaseToken) -> BoxFuture<'a, ()> {
        Box::pin(Queue::release(self, token))
    }
    fn extend<'a>(&'a self, token: &'a LeaseToken, until: Timestamp) -> BoxFuture<'a, ()> {
        Box::pin(Queue::extend(self, token, until))
    }
    fn reap(&self, now: Timestamp) -> BoxFuture<'_, usize> {
        Box::pin(Queue::reap(self, now))
    }
    fn prune(&self, older_than: Timestamp) -> BoxFuture<'_, usize> {
        Box::pin(Queue::prune(self, older_than))
    }
    fn get(&self, id: JobId) -> BoxFuture<'_, Option<JobRecord>> {
        Box::pin(Queue::get(self, id))
    }
    fn dead_letters<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        page: Page,
    ) -> BoxFuture<'a, DeadLetterPage> {
        Box::pin(Queue::dead_letters(self, filter, page))
    }
    fn replay(&self, id: JobId, now: Timestamp) -> BoxFuture<'_, ()> {
        Box::pin(Queue::replay(self, id, now))
    }
    fn replay_all<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        now: Timestamp,
    ) -> BoxFuture<'a, usize> {
        Box::pin(Queue::replay_all(self, filter, now))
    }
    fn purge<'a>(&'a self, filter: &'a DeadLetterFilter) -> BoxFuture<'a, usize> {
        Box::pin(Queue::purge(self, filter))
    }
    fn stats(&self, now: Timestamp) -> BoxFuture<'_, QueueStats> {
        Box::pin(Queue::stats(self, now))
    }
    fn set_enabled<'a>(&'a self, endpoint_id: &'a str, enabled: bool) -> BoxFuture<'a, ()> {
        Box::pin(Queue::set_enabled(self, endpoint_id, enabled))
    }
    fn is_enabled<'a>(&'a self, endpoint_id: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(Queue::is_enabled(self, endpoint_id))
    }
}

/// Any [`Queue`] behind `dyn`, for choosing a backend at run time. Cheap to clone (an `Arc`).
///
/// ```
/// use hookguard_sender::{BoxedQueue, MemoryQueue};
/// let queue = BoxedQueue::new(MemoryQueue::new());
/// let _shared = queue.clone();
/// ```
#[derive(Clone)]
pub struct BoxedQueue(Arc<dyn DynQueue>);

impl BoxedQueue {
    /// Boxes `queue`.
    #[must_use]
    pub fn new<Q: Queue>(queue: Q) -> Self {
        Self(Arc::new(queue))
    }
}

impl fmt::Debug for BoxedQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxedQueue(..)")
    }
}

impl Queue for BoxedQueue {
    async fn enqueue(&self, job: NewJob) -> Result<JobId, QueueError> {
        self.0.enqueue(job).await
    }
    async fn lease(
        &self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
    ) -> Result<Vec<Leased>, QueueError> {
        self.0.lease(now, max, lease_for).await
    }
    async fn ack(&self, token: &LeaseToken, attempt: Attempt) -> Result<(), QueueError> {
        self.0.ack(token, attempt).await
    }
    async fn retry_at(
        &self,
        token: &LeaseToken,
        at: Timestamp,
        attempt: Attempt,
    ) -> Result<(), QueueError> {
        self.0.retry_at(token, at, attempt).await
    }
    async fn defer(&self, token: &LeaseToken, at: Timestamp) -> Result<(), QueueError> {
        self.0.defer(token, at).await
    }
    async fn dead_letter(
        &self,
        token: &LeaseToken,
        now: Timestamp,
        attempt: Option<Attempt>,
        reason: DeadLetterReason,
    ) -> Result<(), QueueError> {
        self.0.dead_letter(token, now, attempt, reason).await
    }
    async fn release(&self, token: &LeaseToken) -> Result<(), QueueError> {
        self.0.release(token).await
    }
    async fn extend(&self, token: &LeaseToken, until: Timestamp) -> Result<(), QueueError> {
        self.0.extend(token, until).await
    }
    async fn reap(&self, now: Timestamp) -> Result<usize, QueueError> {
        self.0.reap(now).await
    }
    async fn prune(&self, older_than: Timestamp) -> Result<usize, QueueError> {
        self.0.prune(older_than).await
    }
    async fn get(&self, id: JobId) -> Result<Option<JobRecord>, QueueError> {
        self.0.get(id).await
    }
    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> Result<DeadLetterPage, QueueError> {
        self.0.dead_letters(filter, page).await
    }
    async fn replay(&self, id: JobId, now: Timestamp) -> Result<(), QueueError> {
        self.0.replay(id, now).await
    }
    async fn replay_all(
        &self,
        filter: &DeadLetterFilter,
        now: Timestamp,
    ) -> Result<usize, QueueError> {
        self.0.replay_all(filter, now).await
    }
    async fn purge(&self, filter: &DeadLetterFilter) -> Result<usize, QueueError> {
        self.0.purge(filter).await
    }
    async fn stats(&self, now: Timestamp) -> Result<QueueStats, QueueError> {
        self.0.stats(now).await
    }
    async fn set_enabled(&self, endpoint_id: &str, enabled: bool) -> Result<(), QueueError> {
        self.0.set_enabled(endpoint_id, enabled).await
    }
    async fn is_enabled(&self, endpoint_id: &str) -> Result<bool, QueueError> {
        self.0.is_enabled(endpoint_id).await
    }
}
