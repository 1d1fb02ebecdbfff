//! Keeping a claim alive while its handler runs.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use hookguard::Clock;
use tokio::time::Instant;

use crate::idempotency::DEFAULT_MAX_HOLD_LEASES;
use crate::metrics;
use crate::store::{IdempotencyKey, IdempotencyStore, StoreError, Token};

/// What a heartbeat needs: the claim, its lease, and how long it may be held in all.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hold {
    pub(crate) lease: Duration,
    pub(crate) max_hold: Duration,
}

impl Hold {
    /// `max_hold` defaults to [`DEFAULT_MAX_HOLD_LEASES`] leases.
    pub(crate) fn new(lease: Duration, max_hold: Option<Duration>) -> Self {
        Self {
            lease,
            max_hold: max_hold.unwrap_or(lease * DEFAULT_MAX_HOLD_LEASES),
        }
    }
}

/// Extends the claim every `lease / 3` until `max_hold` has passed or the lease is lost; never returns.
///
/// Past `max_hold` the record is left to lapse, so that a hung handler cannot hold its event forever: the
/// next delivery takes over. The lease of the last extension is cut to end at `max_hold`.
pub(crate) async fn keep_alive<S: IdempotencyStore + ?Sized>(
    store: &S,
    key: &IdempotencyKey,
    token: Token,
    hold: Hold,
    clock: &dyn Clock,
) {
    let period = (hold.lease / 3).max(Duration::from_millis(1));
    let give_up = Instant::now() + hold.max_hold;
    loop {
        tokio::time::sleep(period).await;
        let remaining = give_up.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            tracing::warn!(%key, max_hold = ?hold.max_hold, "handler still running after max_hold; its claim will lapse and a redelivery may run it again");
            break;
        }
        match store
            .extend(key, &token, hold.lease.min(remaining), clock.now())
            .await
        {
            Ok(()) => metrics::extended(),
            Err(StoreError::LeaseLost) => {
                metrics::lease_lost();
                tracing::warn!(%key, "lease lost while the handler runs: another delivery took the event over");
                break;
            }
            Err(error) => {
                tracing::warn!(%key, %error, "could not extend the claim; trying again at the next beat");
            }
        }
    }
    std::future::pending::<()>().await;
}

/// Runs `work` while `beat` keeps its claim alive; `beat` is first polled only if `work` has to wait, so a
/// handler that answers at once costs no timer.
pub(crate) async fn alongside<T>(
    work: impl Future<Output = T>,
    beat: impl Future<Output = ()>,
) -> T {
    let (mut work, mut beat) = (pin!(work), pin!(beat));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        // Never ready: the heartbeat ends only by being dropped with `work`'s answer.
        let _ = beat.as_mut().poll(cx);
        Poll::Pending
    })
    .await
}
