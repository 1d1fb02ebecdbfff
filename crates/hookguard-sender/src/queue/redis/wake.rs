//! Cross-process wake-ups: one subscriber per [`RedisQueue`](super::RedisQueue) (shared by its clones) on a
//! connection of its own, fanned out to local waiters through a [`Notify`].
//!
//! The scripts `PUBLISH` on the queue's channel when they make work due now (an enqueue, a release, a
//! reap, a replay, an endpoint state change). The subscriber is started by the first
//! [`wait_for_work`](crate::Queue::wait_for_work); it never shares the multiplexed connection of the
//! other calls (a subscribed connection can do nothing else). When the subscription drops it reconnects
//! with jittered exponential backoff and, once back, wakes every waiter (a wake-up may have been missed); the
//! waiters' own deadline is the fallback, so a Redis without pub/sub (or a lost message) only delays work
//! until the next poll. It pings every [`PING_EVERY`] so that a silently dead connection is noticed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use rand::RngExt;
use tokio::sync::{Notify, watch};

/// The first reconnection delay; doubled per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the subscriber checks its connection.
const PING_EVERY: Duration = Duration::from_secs(15);

/// The local end of the wake-ups: the waiters' [`Notify`] and the subscriber's lifetime.
#[derive(Debug)]
pub(super) struct Wake {
    notify: Notify,
    started: AtomicBool,
    /// Dropped with the last queue handle, which stops the subscriber.
    stop: watch::Sender<()>,
}

impl Wake {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            notify: Notify::new(),
            started: AtomicBool::new(false),
            stop: watch::channel(()).0,
        })
    }

    /// Wakes the local waiters (a change made by this process: no need to wait for the round trip).
    pub(super) fn notify(&self) {
        self.notify.notify_waiters();
    }

    pub(super) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// Starts the subscriber once, on the current tokio runtime.
    pub(super) fn start(
        self: &Arc<Self>,
        client: &::redis::Client,
        channel: String,
        timeout: Duration,
    ) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let (client, wake, stop) = (client.clone(), Arc::downgrade(self), self.stop.subscribe());
        tokio::spawn(subscribe_forever(client, channel, timeout, wake, stop));
    }
}

/// Wakes the waiters; `false` once every queue handle is gone.
fn wake_all(wake: &Weak<Wake>) -> bool {
    wake.upgrade().inspect(|w| w.notify()).is_some()
}

fn jittered(d: Duration) -> Duration {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(2);
    Duration::from_millis(rand::rng().random_range(ms / 2..=ms))
}

async fn subscribe_forever(
    client: ::redis::Client,
    channel: String,
    timeout: Duration,
    wake: Weak<Wake>,
    mut stop: watch::Receiver<()>,
) {
    let mut backoff = MIN_BACKOFF;
    let mut first = true;
    loop {
        let connect = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, ::redis::RedisError>(pubsub)
        };
        let connected = tokio::select! {
            _ = stop.changed() => return,
            r = tokio::time::timeout(timeout, connect) => r,
        };
        match connected {
            Ok(Ok(pubsub)) => {
                backoff = MIN_BACKOFF;
                if !first {
                    tracing::info!("Redis queue: wake-up subscription restored");
                    // Whatever was published while we were away is lost: let every waiter look once.
                    if !wake_all(&wake) {
                        return;
                    }
                }
                let (mut sink, mut messages) = pubsub.split();
                let mut ping = tokio::time::interval(PING_EVERY);
                ping.tick().await;
                loop {
                    tokio::select! {
                        _ = stop.changed() => return,
                        message = messages.next() => match message {
                            Some(_) => {
                                if !wake_all(&wake) {
                                    return;
                                }
                            }
                            None => break,
                        },
                        _ = ping.tick() => {
                            let pong = tokio::time::timeout(timeout, sink.ping::<::redis::Value>()).await;
                            if !matches!(pong, Ok(Ok(_))) {
                                break;
                            }
                        }
                    }
                }
                tracing::warn!("Redis queue: wake-up subscription lost; reconnecting");
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "Redis queue: cannot subscribe to wake-ups yet");
            }
            Err(_) => tracing::debug!("Redis queue: timed out subscribing to wake-ups"),
        }
        first = false;
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(jittered(backoff)) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
