//! [`MemoryQueue`]: the default queue, in process memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::{
    Attempt, Cursor, DeadLetterFilter, DeadLetterPage, DeadLetterReason, EndpointState, Job, JobId,
    JobRecord, JobState, LeaseBatch, LeaseHandle, LeaseOptions, LeaseToken, Leased, NewJob, Page,
    Progress, Queue, QueueError, QueueStats, Transition,
};
use crate::Timestamp;

/// The default capacity: scheduled, in-flight and dead jobs together.
const DEFAULT_CAPACITY: usize = 100_000;

/// A queue in process memory: per-endpoint ordered indexes of due times behind one mutex.
///
/// # Not durable
///
/// Everything is lost when the process exits: jobs not yet delivered, the dead-letter queue, endpoint state.
/// Use a durable backend (PostgreSQL, Redis) when events must survive a restart or a deploy.
///
/// # Bounded
///
/// It holds at most `capacity` scheduled, in-flight and dead jobs together (default 100 000);
/// [`enqueue_many`](Queue::enqueue_many) beyond that fails with [`QueueError::Full`] (purge or replay the dead
/// letters, or raise the capacity). Delivered jobs are kept, in a separate bound of the same size, until
/// [`prune`](Queue::prune)d (the sender prunes after its retention) so that a repeated event id still finds its
/// job; past that bound the oldest delivered records are dropped early.
#[derive(Debug)]
pub struct MemoryQueue {
    inner: Mutex<Inner>,
    capacity: usize,
    wake: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    seq: u64,
    jobs: HashMap<JobId, Entry>,
    by_event: HashMap<(String, String), JobId>,
    /// Each endpoint id seen so far, as an index into `lanes`: the per-job index updates then hash and copy
    /// no strings.
    lane_of: HashMap<String, usize>,
    lanes: Vec<Lane>,
    /// One entry per endpoint with scheduled jobs: its earliest `(due_at, seq)` and lane. Leasing walks this,
    /// so an excluded endpoint costs one step however long its backlog.
    ready: BTreeSet<(Timestamp, u64, usize)>,
    /// `(created_at, id)` of scheduled jobs, for `expire`.
    by_created: BTreeSet<(Timestamp, JobId)>,
    /// `(until, id)` of leased jobs.
    leases: BTreeSet<(Timestamp, JobId)>,
    /// `(dead_at, id)` of dead letters.
    dead: BTreeSet<(Timestamp, JobId)>,
    delivered: BTreeSet<(Timestamp, JobId)>,
    states: HashMap<String, EndpointState>,
    /// Scheduled, in-flight and dead jobs (the bounded ones).
    live: usize,
}

/// One endpoint's scheduled jobs. Kept once created (one small entry per endpoint id, like `states`).
#[derive(Debug)]
struct Lane {
    endpoint_id: String,
    /// `(due_at, seq, id)` of its scheduled jobs (`seq` keeps equal times in FIFO order).
    due: BTreeSet<(Timestamp, u64, JobId)>,
    /// Its entry in `ready`, if it has scheduled jobs.
    head: Option<(Timestamp, u64)>,
}

#[derive(Debug)]
struct Entry {
    job: Job,
    /// The job's endpoint's lane.
    lane: usize,
    state: JobState,
    /// Matches the `due` entry that is current for this job.
    seq: u64,
    token: Option<LeaseToken>,
    /// Consecutive lapsed leases since the last recorded attempt.
    lapses: u32,
    attempts: Vec<Attempt>,
}

impl Entry {
    /// Whether this job, dead-lettered at `at`, is one `filter` selects.
    fn dead_matches(&self, filter: &DeadLetterFilter, at: Timestamp) -> bool {
        match self.state {
            JobState::Dead { reason, .. } => filter.matches(&self.job.endpoint_id, at, reason),
            _ => false,
        }
    }
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
            wake: Notify::new(),
        }
    }

    /// The capacity.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every method validates before it mutates, so a panic cannot leave `Inner` half-updated in a way
        // that matters more than losing the queue: keep going.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    fn entry(&mut self, id: JobId) -> &mut Entry {
        self.jobs.get_mut(&id).expect("indexed job exists")
    }

    /// The lane of `endpoint_id`, created if new.
    fn lane(&mut self, endpoint_id: &str) -> usize {
        if let Some(&lane) = self.lane_of.get(endpoint_id) {
            return lane;
        }
        let lane = self.lanes.len();
        self.lanes.push(Lane {
            endpoint_id: endpoint_id.to_owned(),
            due: BTreeSet::new(),
            head: None,
        });
        self.lane_of.insert(endpoint_id.to_owned(), lane);
        lane
    }

    /// Re-indexes `lane`'s earliest due job in `ready`.
    fn set_head(&mut self, lane: usize) {
        let l = &mut self.lanes[lane];
        let new = l.due.first().map(|&(t, s, _)| (t, s));
        let old = l.head;
        if old == new {
            return;
        }
        l.head = new;
        if let Some((t, s)) = old {
            self.ready.remove(&(t, s, lane));
        }
        if let Some((t, s)) = new {
            self.ready.insert((t, s, lane));
        }
    }

    /// Removes a job from the indexes of its current state (scheduled or in flight).
    fn leave_state(&mut self, id: JobId) {
        let Some(e) = self.jobs.get_mut(&id) else {
            return;
        };
        e.token = None;
        match e.state {
            JobState::Scheduled { due_at } => {
                let (seq, created, lane) = (e.seq, e.job.created_at, e.lane);
                self.lanes[lane].due.remove(&(due_at, seq, id));
                self.by_created.remove(&(created, id));
                self.set_head(lane);
            }
            JobState::InFlight { until } => {
                self.leases.remove(&(until, id));
            }
            JobState::Delivered { .. } | JobState::Dead { .. } => {}
        }
    }

    fn schedule(&mut self, id: JobId, at: Timestamp) {
        self.leave_state(id);
        self.seq += 1;
        let seq = self.seq;
        let e = self.entry(id);
        e.state = JobState::Scheduled { due_at: at };
        e.seq = seq;
        let (created, lane) = (e.job.created_at, e.lane);
        self.lanes[lane].due.insert((at, seq, id));
        self.by_created.insert((created, id));
        self.set_head(lane);
    }

    fn kill(&mut self, id: JobId, now: Timestamp, reason: DeadLetterReason) {
        self.leave_state(id);
        self.entry(id).state = JobState::Dead { at: now, reason };
        self.dead.insert((now, id));
    }

    fn record_attempt(&mut self, id: JobId, attempt: Attempt) {
        let e = self.entry(id);
        e.job.attempts += 1;
        e.lapses = 0;
        // Most jobs record one attempt: room for exactly that, not the four a first push reserves (50 000
        // delivered jobs would otherwise hold 3 unused attempts each).
        e.attempts.reserve_exact(1);
        e.attempts.push(attempt);
    }

    /// The job `handle` leases, if the lease is still held (lapsed but not reaped counts as held).
    fn check(&self, handle: &LeaseHandle) -> Result<(), QueueError> {
        match self.jobs.get(&handle.id) {
            Some(e)
                if matches!(e.state, JobState::InFlight { .. })
                    && e.token.as_ref() == Some(&handle.token) =>
            {
                Ok(())
            }
            _ => Err(QueueError::LeaseLost),
        }
    }

    fn apply(
        &mut self,
        now: Timestamp,
        handle: &LeaseHandle,
        transition: Transition,
        capacity: usize,
    ) -> Result<(), QueueError> {
        self.check(handle)?;
        let id = handle.id;
        match transition {
            Transition::Ack { attempt } => {
                let at = attempt.at;
                self.record_attempt(id, attempt);
                self.leave_state(id);
                self.entry(id).state = JobState::Delivered { at };
                self.delivered.insert((at, id));
                self.live -= 1;
                // Keep at most `capacity` delivered records: the oldest go early (their event ids are new again).
                while self.delivered.len() > capacity {
                    if let Some((_, old)) = self.delivered.pop_first()
                        && let Some(e) = self.jobs.remove(&old)
                    {
                        self.by_event.remove(&(e.job.endpoint_id, e.job.event_id));
                    }
                }
            }
            Transition::RetryAt { at, attempt } => {
                self.record_attempt(id, attempt);
                self.schedule(id, at);
            }
            Transition::Defer { at } => self.schedule(id, at),
            Transition::DeadLetter {
                reason,
                attempt,
                disable_endpoint,
            } => {
                if let Some(attempt) = attempt {
                    self.record_attempt(id, attempt);
                }
                self.kill(id, now, reason);
                if disable_endpoint {
                    let endpoint = self.entry(id).job.endpoint_id.clone();
                    let state = self.states.entry(endpoint).or_default();
                    state.enabled = false;
                    state.reason = Some(reason.to_string());
                    state.changed_at = Some(now);
                }
            }
            Transition::Release => self.schedule(id, now),
        }
        Ok(())
    }

    fn record(&self, id: JobId) -> Option<JobRecord> {
        self.jobs.get(&id).map(|e| JobRecord {
            job: e.job.clone(),
            state: e.state,
            attempts: e.attempts.clone(),
        })
    }

    fn is_disabled(&self, endpoint_id: &str) -> bool {
        self.states.get(endpoint_id).is_some_and(|s| !s.enabled)
    }

    /// Dead letters matching `filter`, oldest first, skipping those `skip` rejects: at most `limit`, and
    /// whether there are more.
    fn matching_dead(
        &self,
        filter: &DeadLetterFilter,
        limit: usize,
        skip: impl Fn(&Entry) -> bool,
    ) -> (Vec<(Timestamp, JobId)>, bool) {
        let mut out = Vec::new();
        for &(at, id) in &self.dead {
            let Some(e) = self.jobs.get(&id) else {
                continue;
            };
            if !e.dead_matches(filter, at) || skip(e) {
                continue;
            }
            if out.len() == limit {
                return (out, true);
            }
            out.push((at, id));
        }
        (out, false)
    }

    fn replay(&mut self, id: JobId, now: Timestamp) -> Result<(), QueueError> {
        let Some(e) = self.jobs.get(&id) else {
            return Err(QueueError::NotFound(id));
        };
        if !matches!(e.state, JobState::Dead { .. }) {
            return Err(QueueError::NotFound(id));
        }
        if self.is_disabled(&e.job.endpoint_id) {
            return Err(QueueError::EndpointDisabled(e.job.endpoint_id.clone()));
        }
        let JobState::Dead { at, .. } = e.state else {
            unreachable!("checked above")
        };
        self.dead.remove(&(at, id));
        let e = self.entry(id);
        e.job.attempts = 0;
        e.lapses = 0;
        self.schedule(id, now);
        Ok(())
    }
}

impl Queue for MemoryQueue {
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<JobId>, QueueError> {
        let mut inner = self.lock();
        // All or none: count the new keys first, so a full queue refuses the whole call.
        let mut fresh = std::collections::HashSet::new();
        for j in &jobs {
            let key = (j.endpoint_id().to_owned(), j.event_id().to_owned());
            if !inner.by_event.contains_key(&key) {
                fresh.insert(key);
            }
        }
        if inner.live + fresh.len() > self.capacity {
            return Err(QueueError::Full {
                capacity: self.capacity,
            });
        }
        let mut ids = Vec::with_capacity(jobs.len());
        for new in jobs {
            let (endpoint_id, event_id, event_type, payload, created_at, due_at) = new.into_parts();
            let key = (endpoint_id, event_id);
            if let Some(id) = inner.by_event.get(&key) {
                ids.push(*id);
                continue;
            }
            inner.next_id += 1;
            let id = JobId(inner.next_id);
            let (endpoint_id, event_id) = key;
            let lane = inner.lane(&endpoint_id);
            inner
                .by_event
                .insert((endpoint_id.clone(), event_id.clone()), id);
            let job = Job {
                id,
                endpoint_id,
                event_id,
                event_type,
                payload,
                created_at,
                attempts: 0,
            };
            inner.jobs.insert(
                id,
                Entry {
                    job,
                    lane,
                    // Not indexed yet: `schedule` indexes it.
                    state: JobState::Delivered { at: created_at },
                    seq: 0,
                    token: None,
                    lapses: 0,
                    attempts: Vec::new(),
                },
            );
            inner.live += 1;
            inner.schedule(id, due_at);
            ids.push(id);
        }
        drop(inner);
        self.wake.notify_waiters();
        Ok(ids)
    }

    async fn lease(
        &self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
        options: &LeaseOptions,
    ) -> Result<LeaseBatch, QueueError> {
        let mut inner = self.lock();
        let until = now + lease_for;
        // Endpoints with due work, ordered by their oldest due job; each with what it may still give.
        let mut candidates: Vec<(usize, usize)> = inner
            .ready
            .iter()
            .take_while(|(t, _, _)| *t <= now)
            .filter_map(|&(_, _, lane)| {
                let cap = options.cap(&inner.lanes[lane].endpoint_id);
                (cap > 0).then_some((lane, cap))
            })
            .collect();
        let mut jobs = Vec::with_capacity(max.min(64));
        let mut exhausted = Vec::new();
        while jobs.len() < max && !candidates.is_empty() {
            let mut i = 0;
            while i < candidates.len() && jobs.len() < max {
                let (lane, cap) = &mut candidates[i];
                let head = inner.lanes[*lane].due.first().copied();
                let Some((at, _, id)) = head.filter(|h| h.0 <= now) else {
                    candidates.remove(i);
                    continue;
                };
                debug_assert!(at <= now);
                *cap -= 1;
                let exhausted_now = *cap == 0;
                inner.leave_state(id);
                let token = LeaseToken::random();
                let e = inner.entry(id);
                e.state = JobState::InFlight { until };
                e.token = Some(token.clone());
                let job = e.job.clone();
                inner.leases.insert((until, id));
                let attempt = job.attempts + 1;
                jobs.push(Leased {
                    handle: LeaseHandle { id, token },
                    job,
                    attempt,
                });
                if exhausted_now {
                    exhausted.push(candidates.remove(i).0);
                } else {
                    i += 1;
                }
            }
        }
        let next_due = inner
            .ready
            .iter()
            .find(|(_, _, lane)| {
                !exhausted.contains(lane) && options.cap(&inner.lanes[*lane].endpoint_id) > 0
            })
            .map(|(t, _, _)| *t);
        Ok(LeaseBatch { jobs, next_due })
    }

    async fn conclude(
        &self,
        now: Timestamp,
        batch: Vec<(LeaseHandle, Transition)>,
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        let mut inner = self.lock();
        let mut wake = false;
        let out = batch
            .into_iter()
            .map(|(handle, t)| {
                wake |= matches!(t, Transition::Release);
                inner.apply(now, &handle, t, self.capacity)
            })
            .collect();
        drop(inner);
        if wake {
            self.wake.notify_waiters();
        }
        Ok(out)
    }

    async fn extend(
        &self,
        handle: &LeaseHandle,
        until: Timestamp,
        _now: Timestamp,
    ) -> Result<(), QueueError> {
        let mut inner = self.lock();
        inner.check(handle)?;
        let e = inner.entry(handle.id);
        let JobState::InFlight { until: old } = e.state else {
            unreachable!("checked: in flight")
        };
        e.state = JobState::InFlight { until };
        inner.leases.remove(&(old, handle.id));
        inner.leases.insert((until, handle.id));
        Ok(())
    }

    async fn reap(
        &self,
        now: Timestamp,
        max_lapses: u32,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        let mut inner = self.lock();
        let lapsed: Vec<_> = inner
            .leases
            .iter()
            .take_while(|(until, _)| *until < now)
            .take(limit.saturating_add(1))
            .map(|k| k.1)
            .collect();
        let more = lapsed.len() > limit;
        let mut n = 0;
        for id in lapsed.into_iter().take(limit) {
            let e = inner.entry(id);
            e.lapses += 1;
            if e.lapses >= max_lapses {
                inner.kill(id, now, DeadLetterReason::LeaseExpired);
            } else {
                inner.schedule(id, now);
            }
            n += 1;
        }
        drop(inner);
        if n > 0 {
            self.wake.notify_waiters();
        }
        Ok((n, more))
    }

    async fn expire(
        &self,
        created_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        let mut inner = self.lock();
        let old: Vec<_> = inner
            .by_created
            .iter()
            .take_while(|(at, _)| *at < created_before)
            .take(limit.saturating_add(1))
            .map(|k| k.1)
            .collect();
        let more = old.len() > limit;
        let n = old.len().min(limit);
        for id in old.into_iter().take(limit) {
            inner.kill(id, now, DeadLetterReason::Expired);
        }
        Ok((n, more))
    }

    async fn wait_for_work(&self, now: Timestamp, until: Timestamp) {
        let woken = self.wake.notified();
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(until.saturating_duration_since(now)) => {}
        }
    }

    async fn prune(&self, older_than: Timestamp, limit: usize) -> Result<Progress, QueueError> {
        let mut inner = self.lock();
        let old: Vec<_> = inner
            .delivered
            .iter()
            .take_while(|(at, _)| *at < older_than)
            .take(limit.saturating_add(1))
            .copied()
            .collect();
        let more = old.len() > limit;
        let n = old.len().min(limit);
        for key in old.into_iter().take(limit) {
            inner.delivered.remove(&key);
            if let Some(e) = inner.jobs.remove(&key.1) {
                inner.by_event.remove(&(e.job.endpoint_id, e.job.event_id));
            }
        }
        Ok((n, more))
    }

    async fn get(&self, id: JobId) -> Result<Option<JobRecord>, QueueError> {
        Ok(self.lock().record(id))
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> Result<DeadLetterPage, QueueError> {
        if page.limit == 0 {
            return Ok(DeadLetterPage {
                items: Vec::new(),
                next: None,
            });
        }
        let inner = self.lock();
        let start = page.after.map(|c| (c.dead_at, c.id));
        let mut items = Vec::new();
        let mut more = false;
        let range = inner.dead.iter().filter(|k| start.is_none_or(|s| **k > s));
        for &(at, id) in range {
            let Some(e) = inner.jobs.get(&id) else {
                continue;
            };
            if !e.dead_matches(filter, at) {
                continue;
            }
            if items.len() == page.limit {
                more = true;
                break;
            }
            items.push(inner.record(id).expect("indexed job exists"));
        }
        // `next` only when another item exists: an exactly full last page says it is the last.
        let next = more.then(|| {
            let last = items.last().expect("more implies a full, non-empty page");
            let JobState::Dead { at, .. } = last.state else {
                unreachable!("dead letters are dead")
            };
            Cursor {
                dead_at: at,
                id: last.job.id,
            }
        });
        Ok(DeadLetterPage { items, next })
    }

    async fn replay(&self, id: JobId, now: Timestamp) -> Result<(), QueueError> {
        self.lock().replay(id, now)?;
        self.wake.notify_waiters();
        Ok(())
    }

    async fn replay_all(
        &self,
        filter: &DeadLetterFilter,
        now: Timestamp,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        let mut inner = self.lock();
        if let Some(ep) = &filter.endpoint_id
            && inner.is_disabled(ep)
        {
            return Err(QueueError::EndpointDisabled(ep.clone()));
        }
        let (ids, more) =
            inner.matching_dead(filter, limit, |e| inner.is_disabled(&e.job.endpoint_id));
        for (_, id) in &ids {
            inner.replay(*id, now)?;
        }
        drop(inner);
        self.wake.notify_waiters();
        Ok((ids.len(), more))
    }

    async fn purge(&self, filter: &DeadLetterFilter, limit: usize) -> Result<Progress, QueueError> {
        let mut inner = self.lock();
        let (ids, more) = inner.matching_dead(filter, limit, |_| false);
        for key in &ids {
            inner.dead.remove(key);
            if let Some(e) = inner.jobs.remove(&key.1) {
                inner.by_event.remove(&(e.job.endpoint_id, e.job.event_id));
            }
            inner.live -= 1;
        }
        Ok((ids.len(), more))
    }

    async fn stats(&self, now: Timestamp) -> Result<QueueStats, QueueError> {
        let inner = self.lock();
        let mut stats = QueueStats {
            in_flight: inner.leases.len() as u64,
            dead: inner.dead.len() as u64,
            ..QueueStats::default()
        };
        for set in inner.lanes.iter().map(|l| &l.due) {
            let due = set.iter().take_while(|k| k.0 <= now).count();
            stats.due += due as u64;
            stats.scheduled += (set.len() - due) as u64;
        }
        Ok(stats)
    }

    async fn endpoint_stats(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(String, QueueStats)>, QueueError> {
        let inner = self.lock();
        let mut by: BTreeMap<&str, QueueStats> = BTreeMap::new();
        for lane in &inner.lanes {
            let due = lane.due.iter().take_while(|k| k.0 <= now).count();
            let stats = by.entry(&lane.endpoint_id).or_default();
            stats.due += due as u64;
            stats.scheduled += (lane.due.len() - due) as u64;
        }
        for (_, id) in &inner.leases {
            if let Some(e) = inner.jobs.get(id) {
                by.entry(&e.job.endpoint_id).or_default().in_flight += 1;
            }
        }
        for (_, id) in &inner.dead {
            if let Some(e) = inner.jobs.get(id) {
                by.entry(&e.job.endpoint_id).or_default().dead += 1;
            }
        }
        Ok(by
            .into_iter()
            .filter(|(_, s)| *s != QueueStats::default())
            .map(|(ep, s)| (ep.to_owned(), s))
            .collect())
    }

    async fn endpoint_state(&self, endpoint_id: &str) -> Result<EndpointState, QueueError> {
        Ok(self
            .lock()
            .states
            .get(endpoint_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn endpoint_states(&self) -> Result<Vec<(String, EndpointState)>, QueueError> {
        let inner = self.lock();
        let mut all: Vec<_> = inner
            .states
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    async fn set_endpoint_state(
        &self,
        endpoint_id: &str,
        state: EndpointState,
    ) -> Result<(), QueueError> {
        self.lock().states.insert(endpoint_id.to_owned(), state);
        // A re-enabled or unpaused endpoint's jobs may be due now.
        self.wake.notify_waiters();
        Ok(())
    }
}
