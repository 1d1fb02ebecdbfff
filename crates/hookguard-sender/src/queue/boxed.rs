//! [`BoxedQueue`]: any [`Queue`] behind `dyn`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{
    DeadLetterFilter, DeadLetterPage, EndpointState, JobId, JobRecord, LeaseBatch, LeaseHandle,
    LeaseOptions, NewJob, Page, Progress, Queue, QueueError, QueueStats, Transition,
};
use crate::Timestamp;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, QueueError>> + Send + 'a>>;
type Concluded = Vec<Result<(), QueueError>>;

/// The object-safe twin of [`Queue`], implemented for every queue.
trait DynQueue: Send + Sync + 'static {
    fn enqueue_many(&self, jobs: Vec<NewJob>) -> BoxFuture<'_, Vec<JobId>>;
    fn lease<'a>(
        &'a self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
        options: &'a LeaseOptions,
    ) -> BoxFuture<'a, LeaseBatch>;
    fn conclude(
        &self,
        now: Timestamp,
        batch: Vec<(LeaseHandle, Transition)>,
    ) -> BoxFuture<'_, Concluded>;
    fn extend<'a>(
        &'a self,
        handle: &'a LeaseHandle,
        until: Timestamp,
        now: Timestamp,
    ) -> BoxFuture<'a, ()>;
    fn reap(&self, now: Timestamp, max_lapses: u32, limit: usize) -> BoxFuture<'_, Progress>;
    fn expire(
        &self,
        created_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> BoxFuture<'_, Progress>;
    fn wait_for_work(
        &self,
        now: Timestamp,
        until: Timestamp,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    fn prune(&self, older_than: Timestamp, limit: usize) -> BoxFuture<'_, Progress>;
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
        limit: usize,
    ) -> BoxFuture<'a, Progress>;
    fn purge<'a>(&'a self, filter: &'a DeadLetterFilter, limit: usize) -> BoxFuture<'a, Progress>;
    fn stats(&self, now: Timestamp) -> BoxFuture<'_, QueueStats>;
    fn endpoint_stats(&self, now: Timestamp) -> BoxFuture<'_, Vec<(String, QueueStats)>>;
    fn endpoint_state<'a>(&'a self, endpoint_id: &'a str) -> BoxFuture<'a, EndpointState>;
    fn endpoint_states(&self) -> BoxFuture<'_, Vec<(String, EndpointState)>>;
    fn set_endpoint_state<'a>(
        &'a self,
        endpoint_id: &'a str,
        state: EndpointState,
    ) -> BoxFuture<'a, ()>;
}

impl<Q: Queue> DynQueue for Q {
    fn enqueue_many(&self, jobs: Vec<NewJob>) -> BoxFuture<'_, Vec<JobId>> {
        Box::pin(Queue::enqueue_many(self, jobs))
    }
    fn lease<'a>(
        &'a self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
        options: &'a LeaseOptions,
    ) -> BoxFuture<'a, LeaseBatch> {
        Box::pin(Queue::lease(self, now, max, lease_for, options))
    }
    fn conclude(
        &self,
        now: Timestamp,
        batch: Vec<(LeaseHandle, Transition)>,
    ) -> BoxFuture<'_, Concluded> {
        Box::pin(Queue::conclude(self, now, batch))
    }
    fn extend<'a>(
        &'a self,
        handle: &'a LeaseHandle,
        until: Timestamp,
        now: Timestamp,
    ) -> BoxFuture<'a, ()> {
        Box::pin(Queue::extend(self, handle, until, now))
    }
    fn reap(&self, now: Timestamp, max_lapses: u32, limit: usize) -> BoxFuture<'_, Progress> {
        Box::pin(Queue::reap(self, now, max_lapses, limit))
    }
    fn expire(
        &self,
        created_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> BoxFuture<'_, Progress> {
        Box::pin(Queue::expire(self, created_before, now, limit))
    }
    fn wait_for_work(
        &self,
        now: Timestamp,
        until: Timestamp,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(Queue::wait_for_work(self, now, until))
    }
    fn prune(&self, older_than: Timestamp, limit: usize) -> BoxFuture<'_, Progress> {
        Box::pin(Queue::prune(self, older_than, limit))
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
        limit: usize,
    ) -> BoxFuture<'a, Progress> {
        Box::pin(Queue::replay_all(self, filter, now, limit))
    }
    fn purge<'a>(&'a self, filter: &'a DeadLetterFilter, limit: usize) -> BoxFuture<'a, Progress> {
        Box::pin(Queue::purge(self, filter, limit))
    }
    fn stats(&self, now: Timestamp) -> BoxFuture<'_, QueueStats> {
        Box::pin(Queue::stats(self, now))
    }
    fn endpoint_stats(&self, now: Timestamp) -> BoxFuture<'_, Vec<(String, QueueStats)>> {
        Box::pin(Queue::endpoint_stats(self, now))
    }
    fn endpoint_state<'a>(&'a self, endpoint_id: &'a str) -> BoxFuture<'a, EndpointState> {
        Box::pin(Queue::endpoint_state(self, endpoint_id))
    }
    fn endpoint_states(&self) -> BoxFuture<'_, Vec<(String, EndpointState)>> {
        Box::pin(Queue::endpoint_states(self))
    }
    fn set_endpoint_state<'a>(
        &'a self,
        endpoint_id: &'a str,
        state: EndpointState,
    ) -> BoxFuture<'a, ()> {
        Box::pin(Queue::set_endpoint_state(self, endpoint_id, state))
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
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<JobId>, QueueError> {
        self.0.enqueue_many(jobs).await
    }
    async fn lease(
        &self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
        options: &LeaseOptions,
    ) -> Result<LeaseBatch, QueueError> {
        self.0.lease(now, max, lease_for, options).await
    }
    async fn conclude(
        &self,
        now: Timestamp,
        batch: Vec<(LeaseHandle, Transition)>,
    ) -> Result<Concluded, QueueError> {
        self.0.conclude(now, batch).await
    }
    async fn extend(
        &self,
        handle: &LeaseHandle,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<(), QueueError> {
        self.0.extend(handle, until, now).await
    }
    async fn reap(
        &self,
        now: Timestamp,
        max_lapses: u32,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        self.0.reap(now, max_lapses, limit).await
    }
    async fn expire(
        &self,
        created_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        self.0.expire(created_before, now, limit).await
    }
    async fn wait_for_work(&self, now: Timestamp, until: Timestamp) {
        self.0.wait_for_work(now, until).await;
    }
    async fn prune(&self, older_than: Timestamp, limit: usize) -> Result<Progress, QueueError> {
        self.0.prune(older_than, limit).await
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
        limit: usize,
    ) -> Result<Progress, QueueError> {
        self.0.replay_all(filter, now, limit).await
    }
    async fn purge(&self, filter: &DeadLetterFilter, limit: usize) -> Result<Progress, QueueError> {
        self.0.purge(filter, limit).await
    }
    async fn stats(&self, now: Timestamp) -> Result<QueueStats, QueueError> {
        self.0.stats(now).await
    }
    async fn endpoint_stats(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(String, QueueStats)>, QueueError> {
        self.0.endpoint_stats(now).await
    }
    async fn endpoint_state(&self, endpoint_id: &str) -> Result<EndpointState, QueueError> {
        self.0.endpoint_state(endpoint_id).await
    }
    async fn endpoint_states(&self) -> Result<Vec<(String, EndpointState)>, QueueError> {
        self.0.endpoint_states().await
    }
    async fn set_endpoint_state(
        &self,
        endpoint_id: &str,
        state: EndpointState,
    ) -> Result<(), QueueError> {
        self.0.set_endpoint_state(endpoint_id, state).await
    }
}
