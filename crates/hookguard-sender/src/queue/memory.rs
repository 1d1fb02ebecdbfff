//! [`MemoryQueue`]: the default queue, in process memory.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::{
    Attempt, Cursor, DeadLetterFilter, DeadLetterPage, DeadLetterReason, Job, JobId, JobRecord,
    JobState, LeaseToken, Leased, NewJob, Page, Queue, QueueError, QueueStats,
};
use crate::Timestamp;

/// The default capacity: scheduled, in-flight and dead jobs together.
const DEFAULT_CAPACITY: usize = 100_000;

/// A queue in process memory: an ordered index of due times behind one mutex.
///
/// # Not durable
///
/// Everything is lost when the process exits: jobs not yet delivered, the dead-letter queue, endpoint state.
/// Use a durable backend (PostgreSQL, Redis) when events must survive a restart or a deploy.
///
/// # Bounded
///
/// It holds at most `capacity` scheduled, in-flight and dead jobs together (default 100 000);
/// [`enqueue`](Queue::enqueue) beyond that fails with [`QueueError::Full`] (purge or replay the dead letters,
/// or raise the capacity). Delivered jobs are kept, in a separate bound of the same size, until
/// [`prune`](Queue::prune)d (the sender prunes after its retention) so that a repeated event id still finds its
/// job; past that bound the oldest delivered records are dropped early.
#[derive(Debug)]
pub struct MemoryQueue {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    seq: u64,
    jobs: HashMap<JobId, Entry>,
    by_event: HashMap<(String, String), JobId>,
    /// `(due_at, seq, id)` of scheduled jobs, earliest first (`seq` keeps equal times in FIFO order).
    due: BTreeSet<(Timestamp, u64, JobId)>,
    /// `(until, id)` of leased jobs.
    leases: BTreeSet<(Timestamp, JobId)>,
    by_token: HashMap<LeaseToken, JobId>,
    /// `(dead_at, id)` of dead letters.
    dead: BTreeSet<(Timestamp, JobId)>,
    delivered: BTreeSet<(Timestamp, JobId)>,
    disabled: std::collections::HashSet<String>,
    /// Scheduled, in-flight and dead jobs (the bounded ones).
    live: usize,
}

#[derive(Debug)]
struct Entry {
    job: Job,
    state: JobState,
    /// Matches the heap entry that is current for this job.
    seq: u64,
    token: Option<LeaseToken>,
    attempts: Vec<Attempt>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryQueue {
    /// An empty queue holding at most 100 000 jobs.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty queue holding at most `capacity` scheduled, in-flight and dead jobs.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    /// The capacity.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a way that matters more than
        // losing the queue, so keep going.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    fn schedule(&mut self, id: JobId, at: Timestamp) {
        self.seq += 1;
        let seq = self.seq;
        if let Some(e) = self.jobs.get_mut(&id) {
            if let JobState::Scheduled { due_at } = e.state {
                self.due.remove(&(due_at, e.seq, id));
            }
            e.state = JobState::Scheduled { due_at: at };
            e.seq = seq;
            e.token = None;
            self.due.insert((at, seq, id));
        }
    }

    /// The leased job holding `token`, removed from the lease indexes.
    fn take_lease(&mut self, token: &LeaseToken) -> Result<JobId, QueueError> {
        let id = self.by_token.remove(token).ok_or(QueueError::LeaseLost)?;
        if let Some(e) = self.jobs.get_mut(&id) {
            e.token = None;
            if let JobState::InFlight { until } = e.state {
                self.leases.remove(&(until, id));
            }
        }
        Ok(id)
    }

    fn entry(&mut self, id: JobId) -> &mut Entry {
        self.jobs.get_mut(&id).expect("indexed job exists")
    }

    fn record(&self, id: JobId) -> Option<JobRecord> {
        self.jobs.get(&id).map(|e| JobRecord {
            job: e.job.clone(),
            state: e.state,
            attempts: e.attempts.clone(),
        })
    }

    fn matching_dead(&self, filter: &DeadLetterFilter) -> Vec<(Timestamp, JobId)> {
        self.dead
            .iter()
            .filter(|(at, id)| {
                self.jobs
                    .get(id)
                    .is_some_and(|e| filter.matches(&e.job.endpoint_id, *at))
            })
            .copied()
            .collect()
    }

    fn replay(&mut self, id: JobId, now: Timestamp) -> Result<(), QueueError> {
        let Some(JobState::Dead { at, .. }) = self.jobs.get(&id).map(|e| e.state) else {
            return Err(QueueError::NotFound(id));
        };
        self.dead.remove(&(at, id));
        self.entry(id).job.attempts = 0;
        self.schedule(id, now);
        Ok(())
    }
}

impl Queue for MemoryQueue {
    async fn enqueue(&self, new: NewJob) -> Result<JobId, QueueError> {
        let mut inner = self.lock();
        let key = (new.endpoint_id, new.event_id);
        if let Some(id) = inner.by_event.get(&key) {
            return Ok(*id);
        }
        if inner.live >= self.capacity {
            return Err(QueueError::Full {
                capacity: self.capacity,
            });
        }
        inner.next_id += 1;
        let id = JobId(inner.next_id);
        let (endpoint_id, event_id) = key;
        inner
            .by_event
            .insert((endpoint_id.clone(), event_id.clone()), id);
        let job = Job {
            id,
            endpoint_id,
            event_id,
            event_type: new.event_type,
            payload: new.payload,
            created_at: new.created_at,
            attempts: 0,
        };
        inner.jobs.insert(
            id,
            Entry {
                job,
                state: JobState::Scheduled { due_at: new.due_at },
                seq: 0,
                token: None,
                attempts: Vec::new(),
            },
        );
        inner.live += 1;
        inner.schedule(id, new.due_at);
        Ok(id)
    }

    async fn lease(
        &self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
    ) -> Result<Vec<Leased>, QueueError> {
        let mut inner = self.lock();
        let mut out = Vec::new();
        let until = now + lease_for;
        while out.len() < max {
            let Some(&(at, seq, id)) = inner.due.first() else {
                break;
            };
            if at > now {
                break;
            }
            inner.due.remove(&(at, seq, id));
            let token = LeaseToken::random();
            let entry = inner.entry(id);
            entry.state = JobState::InFlight { until };
            entry.token = Some(token.clone());
            let job = entry.job.clone();
            inner.leases.insert((until, id));
            inner.by_token.insert(token.clone(), id);
            let attempt = job.attempts + 1;
            out.push(Leased {
                job,
                token,
                attempt,
            });
        }
        Ok(out)
    }

    async fn ack(&self, token: &LeaseToken, attempt: Attempt) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let id = inner.take_lease(token)?;
        let at = attempt.at;
        let entry = inner.entry(id);
        entry.job.attempts += 1;
        entry.attempts.push(attempt);
        entry.state = JobState::Delivered { at };
        inner.delivered.insert((at, id));
        inner.live -= 1;
        // Keep at most `capacity` delivered records: the oldest go early (their event ids are new again).
        while inner.delivered.len() > self.capacity {
            if let Some((_, old)) = inner.delivered.pop_first() {
                if let Some(e) = inner.jobs.remove(&old) {
                    inner.by_event.remove(&(e.job.endpoint_id, e.job.event_id));
                }
            }
        }
        Ok(())
    }

    async fn retry_at(
        &self,
        token: &LeaseToken,
        at: Timestamp,
        attempt: Attempt,
    ) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let id = inner.take_lease(token)?;
        let entry = inner.entry(id);
        entry.job.attempts += 1;
        entry.attempts.push(attempt);
        inner.schedule(id, at);
        Ok(())
    }

    async fn defer(&self, token: &LeaseToken, at: Timestamp) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let id = inner.take_lease(token)?;
        inner.schedule(id, at);
        Ok(())
    }

    async fn dead_letter(
        &self,
        token: &LeaseToken,
        now: Timestamp,
        attempt: Option<Attempt>,
        reason: DeadLetterReason,
    ) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let id = inner.take_lease(token)?;
        let entry = inner.entry(id);
        if let Some(attempt) = attempt {
            entry.job.attempts += 1;
            entry.attempts.push(attempt);
        }
        entry.state = JobState::Dead { at: now, reason };
        inner.dead.insert((now, id));
        Ok(())
    }

    async fn release(&self, token: &LeaseToken) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let id = inner.take_lease(token)?;
        // Due at once: the lease's own start is not known here, so use the earliest possible time.
        inner.schedule(id, Timestamp::EPOCH);
        Ok(())
    }

    async fn extend(&self, token: &LeaseToken, until: Timestamp) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let id = inner.take_lease(token)?;
        let entry = inner.entry(id);
        entry.state = JobState::InFlight { until };
        entry.token = Some(token.clone());
        inner.leases.insert((until, id));
        inner.by_token.insert(token.clone(), id);
        Ok(())
    }

    async fn reap(&self, now: Timestamp) -> Result<usize, QueueError> {
        let mut inner = self.lock();
        let lapsed: Vec<_> = inner
            .leases
            .iter()
            .take_while(|(until, _)| *until < now)
            .copied()
            .collect();
        for (until, id) in &lapsed {
            inner.leases.remove(&(*until, *id));
            if let Some(token) = inner.jobs.get_mut(id).and_then(|e| e.token.take()) {
                inner.by_token.remove(&token);
            }
            inner.schedule(*id, now);
        }
        Ok(lapsed.len())
    }

    async fn prune(&self, older_than: Timestamp) -> Result<usize, QueueError> {
        let mut inner = self.lock();
        let old: Vec<_> = inner
            .delivered
            .iter()
            .take_while(|(at, _)| *at < older_than)
            .copied()
            .collect();
        for (at, id) in &old {
            inner.delivered.remove(&(*at, *id));
            if let Some(e) = inner.jobs.remove(id) {
                inner.by_event.remove(&(e.job.endpoint_id, e.job.event_id));
            }
        }
        // Live jobs are the scheduled and the leased ones.
        let live: Vec<JobId> = inner
            .due
            .iter()
            .map(|k| k.2)
            .chain(inner.leases.iter().map(|k| k.1))
            .collect();
        for id in live {
            inner.entry(id).attempts.retain(|a| a.at >= older_than);
        }
        Ok(old.len())
    }

    async fn get(&self, id: JobId) -> Result<Option<JobRecord>, QueueError> {
        Ok(self.lock().record(id))
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> Result<DeadLetterPage, QueueError> {
        let inner = self.lock();
        let start = page.after.map(|c| (c.dead_at, c.id));
        let mut items = Vec::new();
        let mut next = None;
        let range = inner.dead.iter().filter(|k| start.is_none_or(|s| **k > s));
        for &(at, id) in range {
            let Some(e) = inner.jobs.get(&id) else {
                continue;
            };
            if !filter.matches(&e.job.endpoint_id, at) {
                continue;
            }
            if items.len() == page.limit {
                break;
            }
            items.push(JobRecord {
                job: e.job.clone(),
                state: e.state,
                attempts: e.attempts.clone(),
            });
            next = Some(Cursor { dead_at: at, id });
        }
        // `next` only when the page filled up: a short page is the last one.
        if items.len() < page.limit {
            next = None;
        }
        Ok(DeadLetterPage { items, next })
    }

    async fn replay(&self, id: JobId, now: Timestamp) -> Result<(), QueueError> {
        self.lock().replay(id, now)
    }

    async fn replay_all(
        &self,
        filter: &DeadLetterFilter,
        now: Timestamp,
    ) -> Result<usize, QueueError> {
        let mut inner = self.lock();
        let ids = inner.matching_dead(filter);
        for (_, id) in &ids {
            inner.replay(*id, now)?;
        }
        Ok(ids.len())
    }

    async fn purge(&self, filter: &DeadLetterFilter) -> Result<usize, QueueError> {
        let mut inner = self.lock();
        let ids = inner.matching_dead(filter);
        for key in &ids {
            inner.dead.remove(key);
            if let Some(e) = inner.jobs.remove(&key.1) {
                inner.by_event.remove(&(e.job.endpoint_id, e.job.event_id));
            }
            inner.live -= 1;
        }
        Ok(ids.len())
    }

    async fn stats(&self, now: Timestamp) -> Result<QueueStats, QueueError> {
        let inner = self.lock();
        let mut stats = QueueStats {
            in_flight: inner.leases.len() as u64,
            dead: inner.dead.len() as u64,
            ..QueueStats::default()
        };
        let due = inner.due.iter().take_while(|k| k.0 <= now).count();
        stats.due = due as u64;
        stats.scheduled = (inner.due.len() - due) as u64;
        Ok(stats)
    }

    async fn set_enabled(&self, endpoint_id: &str, enabled: bool) -> Result<(), QueueError> {
        let mut inner = self.lock();
        if enabled {
            inner.disabled.remove(endpoint_id);
        } else {
            inner.disabled.insert(endpoint_id.to_owned());
        }
        Ok(())
    }

    async fn is_enabled(&self, endpoint_id: &str) -> Result<bool, QueueError> {
        Ok(!self.lock().disabled.contains(endpoint_id))
    }
}
