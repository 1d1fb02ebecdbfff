//! Starting the engine ([`Sender::spawn`]) and stopping it ([`Workers::shutdown`]) within a hard deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::Sender;
use super::slot::Concluder;
use super::worker::{flag_set, supervise};
use crate::queue::Queue;

/// The running engine: leaser, slots, flusher and reaper. Dropping this leaves them running; call
/// [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct Workers {
    leaser: JoinHandle<()>,
    flusher: JoinHandle<()>,
    reaper: JoinHandle<()>,
    stop: watch::Sender<bool>,
    abort: watch::Sender<bool>,
    hard: Duration,
}

impl<Q: Queue> Sender<Q> {
    /// Starts the engine on the current tokio runtime: `workers` slots filled by one leaser, one flusher
    /// batching conclusions, and the reaper; each supervised (a panic is logged, counted in
    /// `hookguard_worker_restarts_total`, and the task restarted).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(&self) -> Workers {
        let s = &self.shared.settings;
        for id in &self.shared.order {
            super::telemetry::breaker(id, false);
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let (abort_tx, abort_rx) = watch::channel(false);
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(AsyncMutex::new(rx));
        let slots = Arc::new(Semaphore::new(s.workers));

        let this = self.clone();
        let flusher = supervise("flusher", move || this.clone().flush_loop(Arc::clone(&rx)));

        let this = self.clone();
        let (stop, abort) = (stop_rx.clone(), abort_rx);
        let leaser = supervise("leaser", move || {
            this.clone().lease_loop(
                stop.clone(),
                abort.clone(),
                Concluder::Flusher(tx.clone()),
                Arc::clone(&slots),
            )
        });

        let this = self.clone();
        let stop = stop_rx;
        let reaper = supervise("reaper", move || {
            let this = this.clone();
            let mut stop = stop.clone();
            async move {
                loop {
                    if let Err(e) = this.reap().await {
                        tracing::warn!(error = %crate::error::chain(&e), "reaper round failed");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(this.shared.settings.reap_interval) => {}
                        () = flag_set(&mut stop) => break,
                    }
                }
            }
        });
        Workers {
            leaser,
            flusher,
            reaper,
            stop: stop_tx,
            abort: abort_tx,
            hard: s.queue_timeout,
        }
    }
}

impl Workers {
    /// Stops at once, as a crash would: attempts in flight are dropped unconcluded and nothing is released,
    /// so their leases lapse and the reaper (of this or any other process) returns the jobs. For crash tests
    /// and emergencies; [`shutdown`](Self::shutdown) is the orderly way.
    pub fn abort(self) {
        // The leaser owns the slots: aborting it drops them. Queued conclusions die with the flusher.
        for task in [self.leaser, self.flusher, self.reaper] {
            task.abort();
        }
    }

    /// Graceful shutdown: no new leases; attempts in progress may finish for `grace`; then they are abandoned
    /// and their jobs released (due again at once, no attempt spent). Whatever still runs at `grace` plus the
    /// queue timeout (5 s by default) is aborted (its leases lapse and the reaper returns the jobs): this
    /// returns by then.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let hard = tokio::time::Instant::now() + grace + self.hard;
        let mut leaser = self.leaser;
        if tokio::time::timeout(grace, &mut leaser).await.is_err() {
            let _ = self.abort.send(true);
            if tokio::time::timeout_at(hard, &mut leaser).await.is_err() {
                tracing::warn!("shutdown deadline passed; aborting the remaining deliveries");
                leaser.abort();
            }
        }
        // The leaser's end drops the last sender of the flusher's channel: it drains and stops.
        for mut task in [self.flusher, self.reaper] {
            if tokio::time::timeout_at(hard, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}
