//! The worker engine: one leaser per process fills its slots (leasing when half a batch of slots is free, or
//! after a 2 ms linger, and only when something may have changed: new work, a job falling due, a held-back
//! endpoint becoming admissible), one task per leased job (admission, attempt with a lease heartbeat,
//! decision), and one flusher batching the conclusions into [`Queue::conclude`] calls. Every long-lived
//! task is supervised: a panic is logged, counted and the task restarted.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use tokio::sync::{Mutex as AsyncMutex, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument as _;

use super::Sender;
use super::admission::{self, Admit, EndpointRuntime};
use super::attempt::{self, Tried};
use super::disposition::{self, BreakerVerdict, Rules};
use super::telemetry::{self, DeferCause};
use crate::breaker::CircuitBreaker;
use crate::queue::{
    DeadLetterReason, LeaseHandle, LeaseOptions, Leased, Queue, QueueError, Transition,
};
use crate::{BreakerState, Timestamp};

/// One conclusion on its way to the flusher, with where to send its result.
pub(crate) struct FlushItem {
    handle: LeaseHandle,
    transition: Transition,
    reply: oneshot::Sender<Result<(), QueueError>>,
}

/// How a job's transition reaches the queue.
#[derive(Clone)]
pub(crate) enum Concluder {
    /// One `conclude` call per job ([`Sender::process_due`]).
    Direct,
    /// Through the process's flusher.
    Flusher(mpsc::UnboundedSender<FlushItem>),
}

/// A process slot and one of the endpoint's in-flight places, held from lease until conclusion (or a panic:
/// dropping gives both back).
pub(crate) struct Claim<Q> {
    sender: Sender<Q>,
    ep: Option<Arc<EndpointRuntime>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<Q> Drop for Claim<Q> {
    fn drop(&mut self) {
        if let Some(ep) = &self.ep {
            ep.in_flight
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
        // The leaser decides whether this changes anything; waking it costs no queue call.
        self.sender.shared.freed.notify_one();
    }
}

/// A half-open breaker's one probe, handed back (so that another may go) if no outcome was recorded for it:
/// held back, aborted, lease lost, or its future dropped. After an outcome the breaker is no longer probing
/// and the drop does nothing.
struct ProbeSlot<'a>(&'a CircuitBreaker);

impl Drop for ProbeSlot<'_> {
    fn drop(&mut self) {
        self.0.cancel_probe();
    }
}

/// Resolves once the flag is set; never if its sender is gone without setting it.
pub(crate) async fn flag_set(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn jittered(base: Duration, step: u32) -> Duration {
    let d = base.saturating_mul(1 << step.min(8));
    let ms = d.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(ms / 2..=ms))
}

/// Runs `make()`'s task until it returns; a panic is logged, counted and the task started again.
pub(crate) fn supervise<F, Fut>(name: &'static str, mut make: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let task = tokio::spawn(make());
            // Aborting the supervisor aborts the task it watches.
            let _guard = AbortOnDrop(task.abort_handle());
            match task.await {
                Ok(()) => break,
                Err(e) if e.is_panic() => telemetry::worker_restart(name, &panic_message(e)),
                Err(_) => break,
            }
        }
    })
}

/// Consumes `notify`'s stored permit, if any, without waiting.
async fn take_permit(notify: &tokio::sync::Notify) {
    tokio::select! {
        biased;
        () = notify.notified() => {}
        () = std::future::ready(()) => {}
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic".into()),
        Err(e) => e.to_string(),
    }
}

/// What the last lease call showed: which endpoints were held back or used their whole cap, and the next due
/// time among the others. Until one of those changes, leasing again would return nothing.
struct LastLease {
    at: Timestamp,
    held: HashSet<String>,
    next_due: Option<Timestamp>,
}

impl<Q: Queue> Sender<Q> {
    /// A queue call with the configured timeout, retried with jittered backoff while the backend is
    /// unavailable (at most three tries).
    pub(crate) async fn call<T, F, Fut>(&self, mut f: F) -> Result<T, QueueError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, QueueError>>,
    {
        let timeout = self.shared.settings.queue_timeout;
        let mut step = 0;
        loop {
            let result = match tokio::time::timeout(timeout, f()).await {
                Ok(r) => r,
                Err(_) => Err(QueueError::Unavailable(
                    format!("queue call timed out after {timeout:?}").into(),
                )),
            };
            match result {
                Err(e) if e.is_transient() && step < 2 => {
                    tracing::warn!(error = %e, "queue unavailable; retrying");
                    tokio::time::sleep(jittered(Duration::from_millis(20), step)).await;
                    step += 1;
                }
                other => return other,
            }
        }
    }

    /// One worker round: leases up to `max` due jobs from the endpoints that may take them now, and handles
    /// them concurrently (deliver, defer or dead-letter), returning how many were leased. Workers run an
    /// equivalent loop; tests driving a [`TestClock`](crate::TestClock) call this directly.
    ///
    /// # Errors
    /// The queue's error when leasing fails (errors ending a lease are logged: the reaper recovers the job).
    pub async fn process_due(&self, max: usize) -> Result<usize, QueueError> {
        let (_tx, abort) = watch::channel(false);
        let now = self.now();
        let (options, _) = admission::lease_options(&self.shared.endpoints, now, max);
        let s = &self.shared.settings;
        let batch = self
            .call(|| self.shared.queue.lease(now, max, s.lease, &options))
            .await?;
        let n = batch.jobs.len();
        if n == 1 {
            // Inline: dropping this future then drops the attempt at once (a spawned task would only be
            // cancelled later).
            let leased = batch.jobs.into_iter().next().expect("one job");
            let claim = self.claim(&leased, None);
            self.handle(leased, claim, abort, Concluder::Direct).await;
            return Ok(1);
        }
        let mut set = JoinSet::new();
        for leased in batch.jobs {
            let claim = self.claim(&leased, None);
            let this = self.clone();
            let abort = abort.clone();
            set.spawn(async move { this.handle(leased, claim, abort, Concluder::Direct).await });
        }
        while let Some(r) = set.join_next().await {
            if let Err(e) = r {
                if e.is_panic() {
                    telemetry::worker_restart("slot", &panic_message(e));
                }
            }
        }
        Ok(n)
    }

    fn claim(&self, leased: &Leased, permit: Option<OwnedSemaphorePermit>) -> Claim<Q> {
        let ep = self.shared.endpoints.get(&leased.job.endpoint_id).cloned();
        if let Some(ep) = &ep {
            ep.in_flight
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        Claim {
            sender: self.clone(),
            ep,
            _permit: permit,
        }
    }

    /// Whether a lease call may return anything that the last one did not.
    fn worth_leasing(
        &self,
        last: Option<&LastLease>,
        options: &LeaseOptions,
        now: Timestamp,
    ) -> bool {
        let Some(last) = last else {
            return true;
        };
        now >= last.at + self.shared.settings.poll_interval
            || last.next_due.is_some_and(|d| d <= now)
            || last.held.iter().any(|ep| options.cap(ep) > 0)
    }

    /// The process's leaser: fills free slots with leased jobs until `stop` is set, then waits for its
    /// slots to finish (`abort` makes them release their jobs).
    pub(crate) async fn lease_loop(
        self,
        mut stop: watch::Receiver<bool>,
        abort: watch::Receiver<bool>,
        concluder: Concluder,
        slots: Arc<Semaphore>,
    ) {
        let s = self.shared.settings.clone();
        let mut set = JoinSet::new();
        let mut last: Option<LastLease> = None;
        let mut new_work = true;
        let mut failures = 0;
        let mut linger_until: Option<tokio::time::Instant> = None;
        loop {
            while let Some(r) = set.try_join_next() {
                if let Err(e) = r {
                    if e.is_panic() {
                        telemetry::worker_restart("slot", &panic_message(e));
                    }
                }
            }
            if *stop.borrow() {
                break;
            }
            // Conclusions so far are in the caps computed below: a stored wake-up for them is spent.
            take_permit(&self.shared.freed).await;
            let free = slots.available_permits();
            let lingered = linger_until.is_some_and(|t| tokio::time::Instant::now() >= t);
            if free == 0 || (free * 2 < s.batch && !lingered) {
                // Too few free slots for a batch: wait for more, at most the linger once one is free.
                if free > 0 && linger_until.is_none() {
                    linger_until = Some(tokio::time::Instant::now() + s.linger);
                }
                let linger = linger_until.filter(|_| free > 0);
                tokio::select! {
                    () = flag_set(&mut stop) => {}
                    () = self.shared.freed.notified() => {}
                    () = self.shared.wake.notified() => new_work = true,
                    () = async {
                        match linger {
                            Some(t) => tokio::time::sleep_until(t).await,
                            None => std::future::pending().await,
                        }
                    } => {}
                }
                continue;
            }
            let now = self.now();
            let (options, wake_at) = admission::lease_options(&self.shared.endpoints, now, s.batch);
            if new_work || self.worth_leasing(last.as_ref(), &options, now) {
                linger_until = None;
                // This call sees every job enqueued so far: a stored wake-up for them is spent (the queue's
                // own notification may have woken us for the same jobs).
                take_permit(&self.shared.wake).await;
                let want = free.min(s.batch);
                let leased = tokio::time::timeout(
                    s.queue_timeout,
                    self.shared.queue.lease(now, want, s.lease, &options),
                )
                .await
                .unwrap_or_else(|_| Err(QueueError::Unavailable("lease timed out".into())));
                match leased {
                    Ok(batch) => {
                        failures = 0;
                        let mut taken: HashMap<String, usize> = HashMap::new();
                        for leased in batch.jobs {
                            *taken.entry(leased.job.endpoint_id.clone()).or_default() += 1;
                            let permit = Arc::clone(&slots)
                                .try_acquire_owned()
                                .expect("leased no more than the free slots");
                            let claim = self.claim(&leased, Some(permit));
                            let this = self.clone();
                            let (abort, concluder) = (abort.clone(), concluder.clone());
                            set.spawn(
                                async move { this.handle(leased, claim, abort, concluder).await },
                            );
                        }
                        let exhausted: Vec<String> = taken
                            .into_iter()
                            .filter(|(ep, n)| *n >= options.cap(ep))
                            .map(|(ep, _)| ep)
                            .collect();
                        let mut held = options.exclude;
                        held.extend(exhausted);
                        last = Some(LastLease {
                            at: now,
                            held,
                            next_due: batch.next_due,
                        });
                        // More due right now shows as `next_due <= now` (the queue leaves out endpoints whose
                        // cap this call used up: they come back when their admission changes).
                        new_work = false;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "leasing failed; backing off");
                        failures += 1;
                        let pause =
                            jittered(Duration::from_millis(50), failures).min(s.poll_interval * 4);
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            () = flag_set(&mut stop) => {}
                        }
                        new_work = true;
                        continue;
                    }
                }
            }
            // Sleep until something may change: new work, the next due job, a held-back endpoint's time, the
            // poll interval, or a conclusion (it may free an endpoint).
            let mut until = last
                .as_ref()
                .map_or(now, |l| l.at + s.poll_interval)
                .min(now + s.poll_interval);
            if let Some(d) = last.as_ref().and_then(|l| l.next_due).filter(|d| *d > now) {
                until = until.min(d);
            }
            if let Some(w) = wake_at {
                until = until.min(w);
            }
            let until = until.max(now + Duration::from_millis(1));
            tokio::select! {
                () = flag_set(&mut stop) => {}
                () = self.shared.wake.notified() => new_work = true,
                () = self.shared.freed.notified() => {}
                () = self.shared.queue.wait_for_work(now, until) => new_work = true,
            }
        }
        while let Some(r) = set.join_next().await {
            if let Err(e) = r {
                if e.is_panic() {
                    telemetry::worker_restart("slot", &panic_message(e));
                }
            }
        }
    }

    /// The process's flusher: batches whatever conclusions are waiting into one `conclude` call.
    pub(crate) async fn flush_loop(self, rx: Arc<AsyncMutex<mpsc::UnboundedReceiver<FlushItem>>>) {
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
            let (batch, replies): (Vec<_>, Vec<_>) = items
                .into_iter()
                .map(|i| ((i.handle, i.transition), i.reply))
                .unzip();
            let now = self.now();
            match self
                .call(|| self.shared.queue.conclude(now, batch.clone()))
                .await
            {
                Ok(results) => {
                    for (reply, r) in replies.into_iter().zip(results) {
                        let _ = reply.send(r);
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(QueueError::Unavailable(message.clone().into())));
                    }
                }
            }
        }
    }

    async fn conclude(
        &self,
        concluder: &Concluder,
        handle: LeaseHandle,
        transition: Transition,
    ) -> Result<(), QueueError> {
        match concluder {
            Concluder::Direct => {
                let now = self.now();
                let mut results = self
                    .call(|| {
                        self.shared
                            .queue
                            .conclude(now, vec![(handle.clone(), transition.clone())])
                    })
                    .await?;
                results.pop().unwrap_or_else(|| {
                    Err(QueueError::Backend("conclude returned no result".into()))
                })
            }
            Concluder::Flusher(tx) => {
                let (reply, rx) = oneshot::channel();
                tx.send(FlushItem {
                    handle,
                    transition,
                    reply,
                })
                .map_err(|_| QueueError::Unavailable("the flusher has stopped".into()))?;
                rx.await
                    .map_err(|_| QueueError::Unavailable("the flusher dropped the item".into()))?
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
                Err(e) => tracing::warn!(error = %e, job = %handle.id, "extending a lease failed"),
            }
        }
    }

    /// Handles one leased job: admission, attempt (with heartbeat), decision, conclusion, then the breaker
    /// and metrics, only once the queue accepted the transition.
    async fn handle(
        &self,
        leased: Leased,
        claim: Claim<Q>,
        mut abort: watch::Receiver<bool>,
        concluder: Concluder,
    ) {
        let sh = &*self.shared;
        let s = &sh.settings;
        let now = self.now();
        let job = &leased.job;
        let Some(ep) = claim.ep.clone() else {
            let t = Transition::DeadLetter {
                reason: DeadLetterReason::UnknownEndpoint,
                attempt: None,
                disable_endpoint: false,
            };
            self.finish(&concluder, &leased, t, None, None, "unknown_endpoint")
                .await;
            return;
        };
        let probe = match admission::admit(&ep, &leased, now, s) {
            Admit::DeadLetter(reason) => {
                let t = Transition::DeadLetter {
                    reason,
                    attempt: None,
                    disable_endpoint: false,
                };
                self.finish(&concluder, &leased, t, None, None, "no_attempt")
                    .await;
                return;
            }
            Admit::Defer { at, cause } => {
                self.finish(
                    &concluder,
                    &leased,
                    Transition::Defer { at },
                    None,
                    Some(cause),
                    "deferred",
                )
                .await;
                return;
            }
            Admit::Go { probe } => probe.then(|| ProbeSlot(&ep.breaker)),
        };
        let span = tracing::info_span!(
            "webhook_attempt",
            endpoint = %ep.config.id,
            job = %job.id,
            event_id = %job.event_id,
            attempt = leased.attempt,
            probe = probe.is_some(),
        );
        let tried = tokio::select! {
            biased;
            () = flag_set(&mut abort) => {
                drop(probe);
                self.finish(&concluder, &leased, Transition::Release, None, None, "released").await;
                return;
            }
            () = self.heartbeat(&leased.handle) => {
                // Another worker owns the job: record nothing, leave the breaker alone.
                drop(probe);
                telemetry::lease_lost(&ep.config.id, job.id, &job.event_id, leased.attempt);
                return;
            }
            t = attempt::run(&ep, &leased, now, s, &*sh.transport, &*sh.clock).instrument(span) => t,
        };
        let (transition, verdict, label, latency) = match tried {
            Tried::SigningFailed(message) => {
                tracing::error!(endpoint = %ep.config.id, job = %job.id, error = %message, "cannot sign");
                let t = Transition::DeadLetter {
                    reason: DeadLetterReason::SigningFailed,
                    attempt: None,
                    disable_endpoint: false,
                };
                (t, BreakerVerdict::Neutral, "signing_failed", None)
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
                (d.transition, d.breaker, d.label, Some(latency))
            }
        };
        let accepted = self
            .finish(
                &concluder,
                &leased,
                transition.clone(),
                latency.map(|l| (label, l)),
                None,
                label,
            )
            .await;
        if accepted {
            if let Transition::DeadLetter {
                disable_endpoint: true,
                reason,
                ..
            } = &transition
            {
                tracing::warn!(endpoint = %ep.config.id, "410 Gone: endpoint disabled");
                let mut st = ep.state();
                st.enabled = false;
                st.reason = Some(reason.to_string());
                st.changed_at = Some(self.now());
                ep.set_state(st);
            }
            self.apply_verdict(&ep, verdict);
        }
        drop(probe);
        drop(claim);
    }

    fn apply_verdict(&self, ep: &EndpointRuntime, verdict: BreakerVerdict) {
        let now = self.now();
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

    /// Concludes one job and emits its log line and metrics if the queue accepted it. Returns whether it did.
    async fn finish(
        &self,
        concluder: &Concluder,
        leased: &Leased,
        transition: Transition,
        attempt: Option<(&'static str, Duration)>,
        cause: Option<DeferCause>,
        outcome: &str,
    ) -> bool {
        let job = &leased.job;
        let result = self
            .conclude(concluder, leased.handle.clone(), transition.clone())
            .await;
        match result {
            Ok(()) => {
                if let Some((label, latency)) = attempt {
                    telemetry::attempt(&job.endpoint_id, label, latency);
                }
                telemetry::concluded(
                    &job.endpoint_id,
                    job.id,
                    &job.event_id,
                    leased.attempt,
                    &transition,
                    outcome,
                    cause,
                );
                true
            }
            Err(QueueError::LeaseLost) => {
                telemetry::lease_lost(&job.endpoint_id, job.id, &job.event_id, leased.attempt);
                false
            }
            Err(e) => {
                tracing::warn!(
                    endpoint = %job.endpoint_id,
                    job = %job.id,
                    event_id = %job.event_id,
                    error = %e,
                    "queue error ending a lease; the lease will lapse and the reaper return the job"
                );
                false
            }
        }
    }
}
