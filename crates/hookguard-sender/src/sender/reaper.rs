//! The reaper: lapsed leases back to due (counting lapses), old jobs expired, finished jobs pruned, endpoint
//! state refreshed, queue gauges updated. Every step is bounded.

use super::Sender;
use super::telemetry;
use crate::BreakerState;
use crate::queue::{Progress, Queue, QueueError};

/// At most this many bounded calls per step and round: a huge backlog is worked off over several rounds
/// instead of holding the reaper (and the backend) for long.
const MAX_CALLS: usize = 10;

impl<Q: Queue> Sender<Q> {
    async fn bounded<F, Fut>(&self, mut f: F) -> Result<usize, QueueError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Progress, QueueError>>,
    {
        let mut total = 0;
        for _ in 0..MAX_CALLS {
            let (n, more) = self.call(&mut f).await?;
            total += n;
            if !more {
                break;
            }
        }
        Ok(total)
    }

    /// One reaper round: takes back lapsed leases (a job whose lease lapsed `max_lapses` times in a row
    /// dead-letters `lease-expired`), dead-letters jobs older than `max_age` (`expired`), prunes delivered
    /// jobs past the retention, reads endpoint state and updates the queue and breaker gauges. Returns how
    /// many leases were taken back.
    ///
    /// # Errors
    /// The queue's error.
    pub async fn reap(&self) -> Result<usize, QueueError> {
        let sh = &*self.shared;
        let s = &sh.settings;
        let q = &sh.queue;
        let now = self.now();
        let reaped = self
            .bounded(|| q.reap(now, s.max_lapses, s.reap_limit))
            .await?;
        if reaped > 0 {
            tracing::warn!(reaped, "took back leases that lapsed");
            telemetry::lease("reaped", reaped as u64);
            sh.wake.notify_one();
        }
        let expired = self
            .bounded(|| q.expire(now - s.max_age, now, s.reap_limit))
            .await?;
        if expired > 0 {
            tracing::warn!(expired, max_age = ?s.max_age, "dead-lettered jobs older than max_age");
        }
        self.bounded(|| q.prune(now - s.retention, s.reap_limit))
            .await?;
        self.refresh_endpoint_states().await?;
        let stats = self.call(|| q.stats(now)).await?;
        telemetry::queue_gauges(&stats);
        for (id, ep) in &sh.endpoints {
            let open = !matches!(ep.breaker.state(now), BreakerState::Closed { .. });
            telemetry::breaker(id, open);
        }
        Ok(reaped)
    }
}
