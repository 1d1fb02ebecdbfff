//! The worker loop: one leaser per process fills its slots, leasing when half a batch of slots is free (or
//! after a 2 ms linger) and only when something may have changed: new work, a job falling due, a held-back
//! endpoint becoming admissible. Each leased job runs in a slot ([`super::slot`]). Every long-lived task is
//! supervised: a panic is logged, counted and the task restarted.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::Sender;
use super::admission;
use super::slot::{Claim, Concluder, Handoff};
use super::telemetry;
use crate::Timestamp;
use crate::queue::{LeaseOptions, Leased, Queue, QueueError};

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
        Ok(p) => payload_message(&*p),
        Err(e) => e.to_string(),
    }
}

pub(crate) fn payload_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

/// Runs `fut`, turning a panic while polling it into an `Err`, as a task's `JoinError` would (the future is
/// then dropped, giving back what it held, exactly as tokio drops a panicked task's future).
pub(crate) async fn catch_panic<F: Future<Output = ()>>(
    fut: F,
) -> Result<(), Box<dyn std::any::Any + Send>> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(())) => std::task::Poll::Ready(Ok(())),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    })
    .await
}

/// Whether to lease now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Worth {
    Now,
    AfterLinger,
    No,
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
                    tracing::warn!(error = %crate::error::chain(&e), "queue unavailable; retrying");
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
        let (_tx, mut abort) = watch::channel(false);
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
            self.handle(leased, claim, &mut abort, &Concluder::Direct)
                .await;
            return Ok(1);
        }
        let mut set = JoinSet::new();
        for leased in batch.jobs {
            let claim = self.claim(&leased, None);
            let this = self.clone();
            let mut abort = abort.clone();
            set.spawn(async move {
                this.handle(leased, claim, &mut abort, &Concluder::Direct)
                    .await;
            });
        }
        while let Some(r) = set.join_next().await {
            if let Err(e) = r
                && e.is_panic()
            {
                telemetry::worker_restart("slot", &panic_message(e));
            }
        }
        Ok(n)
    }

    fn claim(&self, leased: &Leased, permit: Option<OwnedSemaphorePermit>) -> Claim<Q> {
        let ep = self.shared.endpoints.get(&leased.job.endpoint_id).cloned();
        Claim::new(self.clone(), ep, permit)
    }

    /// Whether a lease call may return anything that the last one did not.
    fn worth_leasing(
        &self,
        last: Option<&LastLease>,
        options: &LeaseOptions,
        now: Timestamp,
        lingered: bool,
    ) -> Worth {
        let Some(last) = last else {
            return Worth::Now;
        };
        if now >= last.at + self.shared.settings.poll_interval
            || last.next_due.is_some_and(|d| d <= now)
        {
            return Worth::Now;
        }
        // Held-back endpoints that got room again: lease once one has half of what it can take in one call,
        // or after the linger, so that places freed one by one do not cost one lease call each.
        let batch = self.shared.settings.batch;
        let mut any = false;
        for ep in &last.held {
            let room = options.cap(ep);
            if room == 0 {
                continue;
            }
            let full = self
                .shared
                .endpoints
                .get(ep)
                .map_or(batch, |e| batch.min(e.config.max_in_flight));
            if lingered || room * 2 >= full {
                return Worth::Now;
            }
            any = true;
        }
        if any { Worth::AfterLinger } else { Worth::No }
    }

    /// The process's leaser: fills free slots with leased jobs until `stop` is set, then waits for its
    /// slots to finish (`abort` makes them release their jobs).
    pub(crate) async fn lease_loop(
        self,
        mut stop: watch::Receiver<bool>,
        abort: watch::Receiver<bool>,
        concluder: Concluder<Q>,
        slots: Arc<Semaphore>,
    ) {
        let s = self.shared.settings.clone();
        let handoff = Arc::new(Handoff::new());
        let slot = || {
            self.clone()
                .slot_loop(Arc::clone(&handoff), abort.clone(), concluder.clone())
        };
        // The slot tasks: aborting the leaser (or its panic) drops this set, and with it every slot.
        let mut set = JoinSet::new();
        for _ in 0..s.workers {
            set.spawn(slot());
        }
        let mut last: Option<LastLease> = None;
        let mut new_work = true;
        let mut failures = 0;
        let mut linger_until: Option<tokio::time::Instant> = None;
        loop {
            // A slot task catches its jobs' panics; should one still end, a new one takes its place.
            while let Some(r) = set.try_join_next() {
                if let Err(e) = r
                    && e.is_panic()
                {
                    telemetry::worker_restart("slot", &panic_message(e));
                }
                set.spawn(slot());
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
            let worth = if new_work {
                Worth::Now
            } else {
                self.worth_leasing(last.as_ref(), &options, now, lingered)
            };
            match worth {
                Worth::AfterLinger if linger_until.is_none() => {
                    linger_until = Some(tokio::time::Instant::now() + s.linger);
                }
                // Nothing to wait for: an expired linger must not wake the loop again at once.
                Worth::No => linger_until = None,
                _ => {}
            }
            if worth == Worth::Now {
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
                        // Jobs per endpoint in this batch: a handful of endpoints at most, so a scan (no
                        // hashing, no copied ids) beats a map.
                        let mut taken: Vec<(&str, usize)> = Vec::new();
                        for leased in &batch.jobs {
                            let ep = leased.job.endpoint_id.as_str();
                            match taken.iter_mut().find(|(e, _)| *e == ep) {
                                Some((_, n)) => *n += 1,
                                None => taken.push((ep, 1)),
                            }
                        }
                        let exhausted: Vec<String> = taken
                            .into_iter()
                            .filter(|(ep, n)| *n >= options.cap(ep))
                            .map(|(ep, _)| ep.to_owned())
                            .collect();
                        for leased in batch.jobs {
                            let permit = Arc::clone(&slots)
                                .try_acquire_owned()
                                .expect("leased no more than the free slots");
                            let claim = self.claim(&leased, Some(permit));
                            handoff.push(leased, claim);
                        }
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
                        tracing::warn!(error = %crate::error::chain(&e), "leasing failed; backing off");
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
            let linger = linger_until;
            tokio::select! {
                () = flag_set(&mut stop) => {}
                () = self.shared.wake.notified() => new_work = true,
                () = self.shared.freed.notified() => {}
                () = async {
                    match linger {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {}
                () = self.shared.queue.wait_for_work(now, until) => new_work = true,
            }
        }
        handoff.close();
        while let Some(r) = set.join_next().await {
            if let Err(e) = r
                && e.is_panic()
            {
                telemetry::worker_restart("slot", &panic_message(e));
            }
        }
    }
}
