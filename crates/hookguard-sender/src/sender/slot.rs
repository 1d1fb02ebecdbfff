//! One leased job in its slot: admission, the attempt with its lease heartbeat, the decision, and the
//! conclusion, handed to the process's flusher, which batches many into one [`Queue::conclude`] call and only
//! then applies the breaker verdict, the metrics and the log line (so they count only what the queue
//! accepted). The slots themselves are long-lived tasks, one per configured slot, taking leased jobs from the
//! leaser through a [`Handoff`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, Notify, OwnedSemaphorePermit, mpsc, watch};
use tracing::Instrument as _;

use super::Sender;
use super::admission::{self, Admit, EndpointRuntime};
use super::attempt::{self, Tried};
use super::disposition::{self, BreakerVerdict, Rules};
use super::telemetry::{self, DeferCause, Moved};
use super::worker::{catch_panic, flag_set, payload_message};
use crate::BreakerState;
use crate::queue::{DeadLetterReason, JobId, LeaseHandle, Leased, Queue, QueueError, Transition};

/// How a job's transition reaches the queue.
pub(crate) enum Concluder<Q> {
    /// One `conclude` call per job ([`Sender::process_due`]).
    Direct,
    /// Through the process's flusher.
    Flusher(mpsc::UnboundedSender<FlushItem<Q>>),
}

impl<Q> Clone for Concluder<Q> {
    fn clone(&self) -> Self {
        match self {
            Self::Direct => Self::Direct,
            Self::Flusher(tx) => Self::Flusher(tx.clone()),
        }
    }
}

/// One conclusion on its way to the flusher, with what to do once the queue answered.
pub(crate) struct FlushItem<Q> {
    handle: LeaseHandle,
    transition: Transition,
    after: After<Q>,
}

/// Leased jobs on their way from the leaser to its slot tasks. The slots are long-lived tasks, one per
/// configured slot, rather than a task spawned per delivery: that spawn (a task allocation, join-set
/// bookkeeping) cost about as much as the rest of the leaser's work per job.
pub(crate) struct Handoff<Q> {
    jobs: std::sync::Mutex<Waiting<Q>>,
    /// A job was queued or the handoff closed.
    ready: Notify,
}

struct Waiting<Q> {
    jobs: VecDeque<(Leased, Claim<Q>)>,
    /// No more jobs come: slots stop once the queued ones are taken.
    closed: bool,
}

impl<Q> Handoff<Q> {
    pub(crate) fn new() -> Self {
        Self {
            jobs: std::sync::Mutex::new(Waiting {
                jobs: VecDeque::new(),
                closed: false,
            }),
            ready: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting<Q>> {
        // Nothing panics while holding the lock.
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a leased job for the next free slot task. The caller holds a slot permit for it, and there are
    /// as many slot tasks as permits, so a task is free or about to be.
    pub(crate) fn push(&self, leased: Leased, claim: Claim<Q>) {
        self.lock().jobs.push_back((leased, claim));
        self.ready.notify_one();
    }

    /// Lets the slot tasks finish the queued jobs and stop.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
    }

    /// The next job; `None` once closed and drained.
    async fn next(&self) -> Option<(Leased, Claim<Q>)> {
        loop {
            let notified = self.ready.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before looking, so a push or close after the look still wakes this task.
            notified.as_mut().enable();
            {
                let mut w = self.lock();
                if let Some(job) = w.jobs.pop_front() {
                    return Some(job);
                }
                if w.closed {
                    return None;
                }
            }
            notified.await;
        }
    }
}

/// A process slot and one of the endpoint's in-flight places, held from lease until conclusion (or a panic:
/// dropping gives both back).
pub(crate) struct Claim<Q> {
    sender: Sender<Q>,
    ep: Option<Arc<EndpointRuntime>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl<Q> Claim<Q> {
    pub(crate) fn new(
        sender: Sender<Q>,
        ep: Option<Arc<EndpointRuntime>>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        if let Some(ep) = &ep {
            ep.in_flight.fetch_add(1, Ordering::AcqRel);
        }
        Self { sender, ep, permit }
    }
}

impl<Q> Claim<Q> {
    /// Gives the slot and the in-flight place back; returns whether the leaser should look again: the
    /// endpoint was at its cap (or is rate-limited, whose admission waits for a batch of places), or the
    /// free slots reached what the leaser waits for.
    fn release(&mut self) -> bool {
        let mut wake = false;
        let batch = self.sender.shared.settings.batch;
        if let Some(ep) = self.ep.take() {
            let before = ep.in_flight.fetch_sub(1, Ordering::AcqRel);
            let max = ep.config.max_in_flight;
            let room = max.saturating_sub(before.saturating_sub(1));
            // The leaser takes a held endpoint again at half of what it can take in one call.
            let half = batch.min(max).div_ceil(2);
            wake |= room == 1 || room == half || ep.limiter.is_some();
        }
        if let Some(permit) = self.permit.take() {
            let slots = Arc::clone(permit.semaphore());
            drop(permit);
            let free = slots.available_permits();
            wake |= free == 1 || free == batch.div_ceil(2);
        }
        wake
    }
}

impl<Q> Drop for Claim<Q> {
    /// Only reached without a conclusion (a panic, an abandoned attempt): give everything back.
    fn drop(&mut self) {
        if self.release() {
            self.sender.shared.freed.notify_one();
        }
    }
}

/// A half-open breaker's one probe, handed back (so that another may go) if no outcome was recorded for it:
/// held back, aborted, lease lost, or its future dropped. After an outcome the breaker is no longer probing
/// and the drop does nothing.
struct ProbeSlot(Arc<EndpointRuntime>);

impl Drop for ProbeSlot {
    fn drop(&mut self) {
        self.0.breaker.cancel_probe();
    }
}

/// What follows a conclusion, run once the queue answered.
pub(crate) struct After<Q> {
    claim: Claim<Q>,
    endpoint: Arc<str>,
    job: JobId,
    event_id: String,
    attempt: u32,
    moved: Moved,
    /// The attempt's metric label and latency, if a request went out.
    measured: Option<(&'static str, Duration)>,
    verdict: BreakerVerdict,
    disable: Option<DeadLetterReason>,
    probe: Option<ProbeSlot>,
}

impl<Q> After<Q> {
    /// Applies what the queue's answer allows; returns whether the leaser should be woken (see
    /// [`Claim::release`]), so that a flusher wakes it once per batch rather than once per job.
    #[must_use]
    fn run(mut self, result: Result<(), QueueError>) -> bool {
        match result {
            Ok(()) => {
                if let Some((label, latency)) = self.measured {
                    telemetry::attempt(&self.endpoint, label, latency);
                }
                telemetry::concluded(
                    &self.endpoint,
                    self.job,
                    &self.event_id,
                    self.attempt,
                    &self.moved,
                );
                if let Some(ep) = &self.claim.ep {
                    let now = self.claim.sender.shared.clock.now();
                    if let Some(reason) = self.disable {
                        tracing::warn!(endpoint = %ep.config.id, "410 Gone: endpoint disabled");
                        let mut st = ep.state();
                        st.enabled = false;
                        st.reason = Some(reason.to_string());
                        st.changed_at = Some(now);
                        ep.set_state(st);
                    }
                    apply_verdict(ep, self.verdict, now);
                }
            }
            Err(QueueError::LeaseLost) => {
                telemetry::lease_lost(&self.endpoint, self.job, &self.event_id, self.attempt);
            }
            Err(e) => {
                tracing::warn!(
                    endpoint = %self.endpoint,
                    job = %self.job,
                    event_id = %self.event_id,
                    error = %crate::error::chain(&e),
                    "queue error ending a lease; the lease will lapse and the reaper return the job"
                );
            }
        }
        // The probe slot (if the verdict did not end the probe) and then the claim go last.
        drop(self.probe.take());
        self.claim.release()
    }
}

fn apply_verdict(ep: &EndpointRuntime, verdict: BreakerVerdict, now: crate::Timestamp) {
    match verdict {
        BreakerVerdict::Failure => {
            if ep.breaker.record_failure(now) {
                tracing::warn!(endpoint = %ep.config.id, "circuit breaker opened");
                telemetry::breaker(&ep.config.id, true);
            }
        }
        BreakerVerdict::Success => {
            if !matches!(ep.breaker.state(now), BreakerState::Closed { .. }) {
                tracing::info!(endpoint = %ep.config.id, "circuit breaker closed");
                telemetry::breaker(&ep.config.id, false);
            }
            ep.breaker.record_success();
        }
        BreakerVerdict::Neutral => {}
    }
}

impl<Q: Queue> Sender<Q> {
    /// The process's flusher: batches whatever conclusions are waiting into one `conclude` call.
    pub(crate) async fn flush_loop(
        self,
        rx: Arc<AsyncMutex<mpsc::UnboundedReceiver<FlushItem<Q>>>>,
    ) {
        let max = self.shared.settings.batch.max(16);
        let mut rx = rx.lock().await;
        while let Some(first) = rx.recv().await {
            let mut items = vec![first];
            while items.len() < max {
                match rx.try_recv() {
                    Ok(item) => items.push(item),
                    Err(_) => break,
                }
            }
            let (batch, afters): (Vec<_>, Vec<_>) = items
                .into_iter()
                .map(|i| ((i.handle, i.transition), i.after))
                .unzip();
            let now = self.now();
            let mut wake = false;
            match self
                .call(|| self.shared.queue.conclude(now, batch.clone()))
                .await
            {
                Ok(results) => {
                    for (after, r) in afters.into_iter().zip(results) {
                        wake |= after.run(r);
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for after in afters {
                        wake |= after.run(Err(QueueError::Unavailable(message.clone().into())));
                    }
                }
            }
            if wake {
                self.shared.freed.notify_one();
            }
        }
    }

    async fn conclude(
        &self,
        concluder: &Concluder<Q>,
        handle: LeaseHandle,
        transition: Transition,
        after: After<Q>,
    ) {
        match concluder {
            Concluder::Direct => {
                let now = self.now();
                let result = self
                    .call(|| {
                        self.shared
                            .queue
                            .conclude(now, vec![(handle.clone(), transition.clone())])
                    })
                    .await
                    .and_then(|mut r| {
                        r.pop().unwrap_or_else(|| {
                            Err(QueueError::Backend("conclude returned no result".into()))
                        })
                    });
                if after.run(result) {
                    self.shared.freed.notify_one();
                }
            }
            Concluder::Flusher(tx) => {
                if let Err(mpsc::error::SendError(item)) = tx.send(FlushItem {
                    handle,
                    transition,
                    after,
                }) {
                    let stopped = QueueError::Unavailable("the flusher has stopped".into());
                    if item.after.run(Err(stopped)) {
                        self.shared.freed.notify_one();
                    }
                }
            }
        }
    }

    /// One slot task: handles the jobs the leaser hands over, one at a time, until the handoff closes. A panic
    /// in one job is logged and counted like a task restart, and the slot takes the next job.
    pub(crate) async fn slot_loop(
        self,
        handoff: Arc<Handoff<Q>>,
        mut abort: watch::Receiver<bool>,
        concluder: Concluder<Q>,
    ) {
        while let Some((leased, claim)) = handoff.next().await {
            let job = self.handle(leased, claim, &mut abort, &concluder);
            if let Err(panic) = catch_panic(job).await {
                telemetry::worker_restart("slot", &payload_message(&*panic));
            }
        }
    }

    /// The lease heartbeat: extends the lease every lease/3; returns only when the lease is lost.
    async fn heartbeat(&self, handle: &LeaseHandle) {
        let lease = self.shared.settings.lease;
        loop {
            tokio::time::sleep(lease / 3).await;
            let now = self.now();
            match self
                .call(|| self.shared.queue.extend(handle, now + lease, now))
                .await
            {
                Ok(()) => telemetry::lease("extended", 1),
                Err(QueueError::LeaseLost) => return,
                Err(e) => tracing::warn!(
                    error = %crate::error::chain(&e),
                    job = %handle.id,
                    "extending a lease failed"
                ),
            }
        }
    }

    /// Handles one leased job: admission, attempt (with heartbeat), decision, conclusion.
    pub(crate) async fn handle(
        &self,
        leased: Leased,
        claim: Claim<Q>,
        abort: &mut watch::Receiver<bool>,
        concluder: &Concluder<Q>,
    ) {
        let sh = &*self.shared;
        let s = &sh.settings;
        let now = self.now();
        let Leased {
            handle,
            job,
            attempt: number,
        } = leased;
        let endpoint = claim.ep.as_ref().map_or_else(
            || Arc::from(job.endpoint_id.as_str()),
            |e| Arc::clone(&e.label),
        );
        let (job_id, event_id) = (job.id, job.event_id.clone());
        let after = move |claim: Claim<Q>,
                          moved: Moved,
                          measured: Option<(&'static str, Duration)>,
                          verdict: BreakerVerdict,
                          disable: Option<DeadLetterReason>,
                          probe: Option<ProbeSlot>| After {
            claim,
            endpoint,
            job: job_id,
            event_id,
            attempt: number,
            moved,
            measured,
            verdict,
            disable,
            probe,
        };
        let Some(ep) = claim.ep.clone() else {
            let reason = DeadLetterReason::UnknownEndpoint;
            let a = after(
                claim,
                Moved::Dead(reason),
                None,
                BreakerVerdict::Neutral,
                None,
                None,
            );
            let t = Transition::DeadLetter {
                reason,
                attempt: None,
                disable_endpoint: false,
            };
            return self.conclude(concluder, handle, t, a).await;
        };
        let leased = Leased {
            handle,
            job,
            attempt: number,
        };
        let probe = match admission::admit(&ep, &leased, now, s) {
            Admit::DeadLetter(reason) => {
                let a = after(
                    claim,
                    Moved::Dead(reason),
                    None,
                    BreakerVerdict::Neutral,
                    None,
                    None,
                );
                let t = Transition::DeadLetter {
                    reason,
                    attempt: None,
                    disable_endpoint: false,
                };
                return self.conclude(concluder, leased.handle, t, a).await;
            }
            Admit::Defer { at, cause } => {
                let a = after(
                    claim,
                    Moved::Deferred { at, cause },
                    None,
                    BreakerVerdict::Neutral,
                    None,
                    None,
                );
                let t = Transition::Defer { at };
                return self.conclude(concluder, leased.handle, t, a).await;
            }
            Admit::Go { probe } => probe.then(|| ProbeSlot(Arc::clone(&ep))),
        };
        let span = tracing::info_span!(
            "webhook_attempt",
            endpoint = %ep.config.id,
            job = %leased.job.id,
            event_id = %leased.job.event_id,
            attempt = number,
            probe = probe.is_some(),
        );
        // The default transport ends an attempt within the endpoint's timeout: if that comes before the first
        // beat, the heartbeat would never fire, so it is not even armed (one timer less per delivery).
        let beats = !(sh.transport_enforces_timeout && ep.config.timeout < s.lease / 3);
        let heartbeat = async {
            if beats {
                self.heartbeat(&leased.handle).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let tried = tokio::select! {
            biased;
            () = flag_set(abort) => {
                let a = after(claim, Moved::Released, None, BreakerVerdict::Neutral, None, probe);
                return self.conclude(concluder, leased.handle, Transition::Release, a).await;
            }
            () = heartbeat => {
                // Another worker owns the job: record nothing, leave the breaker alone.
                drop(probe);
                telemetry::lease_lost(&ep.label, leased.job.id, &leased.job.event_id, number);
                return;
            }
            // Not boxed: slots are long-lived tasks (see `slot_loop`), so this future is never moved once running.
            t = attempt::run(&ep, &leased, now, s, &*sh.transport, &*sh.clock).instrument(span) => t,
        };
        let (transition, verdict, measured) = match tried {
            Tried::SigningFailed(message) => {
                tracing::error!(endpoint = %ep.config.id, job = %leased.job.id, error = %message, "cannot sign");
                let t = Transition::DeadLetter {
                    reason: DeadLetterReason::SigningFailed,
                    attempt: None,
                    disable_endpoint: false,
                };
                (t, BreakerVerdict::Neutral, None)
            }
            Tried::Sent {
                attempt,
                retry_after,
            } => {
                let latency = attempt.latency;
                let rules = Rules {
                    retry: &s.retry,
                    permanent: &s.permanent,
                    retry_after_cap: s.retry_after_cap,
                };
                let d = disposition::decide(attempt, retry_after, self.now(), rules);
                (d.transition, d.breaker, Some((d.label, latency)))
            }
        };
        let (moved, disable) = match &transition {
            Transition::Ack { .. } => (Moved::Delivered, None),
            Transition::RetryAt { at, .. } => (Moved::Retry { at: *at }, None),
            Transition::Defer { at } => (
                Moved::Deferred {
                    at: *at,
                    cause: DeferCause::Breaker,
                },
                None,
            ),
            Transition::DeadLetter {
                reason,
                disable_endpoint,
                ..
            } => (Moved::Dead(*reason), disable_endpoint.then_some(*reason)),
            Transition::Release => (Moved::Released, None),
        };
        let a = after(claim, moved, measured, verdict, disable, probe);
        self.conclude(concluder, leased.handle, transition, a).await;
    }
}
