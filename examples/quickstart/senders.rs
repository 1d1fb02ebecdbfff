//! The sending side: the main sender and its endpoints, the relay that publishes duplicates, and the
//! publishing loop.

use std::collections::VecDeque;
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use hookguard_sender::{
    BoxedQueue, ConfigError, Endpoint, Event, MemoryQueue, RateLimit, RetryPolicy, Sender,
};

use crate::events::{self, Kind};
use crate::receiver::SECRET;
use crate::{ANALYTICS_LIMIT, Demo};

/// The impostor's key: not the receiver's.
const WRONG_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// Events published per second: a steady stream, so that latency shows whether endpoints keep pace.
pub(crate) const PUBLISH_RATE: f64 = 1_000.0;
/// How long after an invoice the relay publishes its duplicate.
pub(crate) const RELAY_LAG: Duration = Duration::from_millis(150);
/// crm's per-attempt timeout: short, so that an injected timeout costs little.
pub(crate) const FLAKY_TIMEOUT: Duration = Duration::from_millis(250);
/// Short demo backoff: full jitter up to 25 ms doubling to 400 ms, 8 attempts. crm's faults hit at most
/// its first 3 attempts (`faults::FAULTY_ATTEMPTS`), so every event has attempts to spare.
fn retry_policy() -> RetryPolicy {
    RetryPolicy::exponential(
        Duration::from_millis(25),
        2.0,
        Duration::from_millis(400),
        8,
    )
}

/// The main sender and its six endpoints.
pub(crate) fn main_sender(
    queue: BoxedQueue,
    base: &str,
    warehouse: SocketAddr,
) -> Result<Sender<BoxedQueue>, ConfigError> {
    let endpoint = |id: &str, url: String, kind: Kind, max_in_flight: usize| {
        Endpoint::new(id, url, SECRET)
            .with_event_types([kind.name()])
            .with_max_in_flight(max_in_flight)
            .with_timeout(Duration::from_secs(5))
    };
    let (rate, burst) = ANALYTICS_LIMIT;
    Sender::builder(queue)
        .endpoint(endpoint(
            "billing",
            format!("{base}/billing"),
            Kind::InvoicePaid,
            16,
        ))
        .endpoint(
            endpoint("crm", format!("{base}/crm"), Kind::CustomerUpdated, 16)
                .with_timeout(FLAKY_TIMEOUT),
        )
        .endpoint(
            endpoint(
                "analytics",
                format!("{base}/analytics"),
                Kind::AccountClosed,
                4,
            )
            .with_rate_limit(RateLimit::new(rate, burst)),
        )
        .endpoint(endpoint(
            "warehouse",
            format!("http://{warehouse}/warehouse"),
            Kind::OrderShipped,
            4,
        ))
        .endpoint(endpoint(
            "legacy",
            format!("{base}/legacy"),
            Kind::AccountClosed,
            8,
        ))
        .endpoint(
            Endpoint::new(
                "impostor",
                format!("{base}/billing?via=impostor"),
                WRONG_SECRET,
            )
            .with_event_types([Kind::AccountClosed.name()])
            .with_max_in_flight(4),
        )
        // Enough slots for every endpoint's in-flight cap at once (16 + 16 + 4 + 4 + 8 + 4 = 52).
        .workers(64)
        .batch(32)
        .retry_policy(retry_policy())
        // 409s carry the layer's lease left (≤ 5 s here); never wait longer than 2 s in a demo.
        .retry_after_cap(Duration::from_secs(2))
        .circuit_breaker(5, Duration::from_millis(500))
        .poll_interval(Duration::from_millis(20))
        .defer_delay(Duration::from_millis(100))
        .reap_interval(Duration::from_secs(1))
        // Everything listens on 127.0.0.1, which the SSRF guard refuses by default.
        .allow_private_networks()
        .build()
}

/// The relay: its own queue, one endpoint, billing's route (tagged `via=relay`).
pub(crate) fn relay_sender(base: &str) -> Result<Sender<MemoryQueue>, ConfigError> {
    Sender::builder(MemoryQueue::new())
        .endpoint(
            Endpoint::new("relay", format!("{base}/billing?via=relay"), SECRET)
                .with_event_types([Kind::InvoicePaid.name()])
                .with_max_in_flight(4),
        )
        .workers(8)
        .batch(4)
        .retry_policy(retry_policy())
        .retry_after_cap(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(20))
        .allow_private_networks()
        .build()
}

/// Publishes events `0..events` at [`PUBLISH_RATE`], and the relay's duplicates [`RELAY_LAG`] after theirs.
pub(crate) async fn publish(demo: &Demo, run: &str, events: usize) -> Result<(), Box<dyn Error>> {
    let event =
        |n: u64| Event::new(Kind::of(n).name(), events::payload(n)).with_id(events::id(run, n));
    let started = tokio::time::Instant::now();
    let mut duplicates: VecDeque<(tokio::time::Instant, u64)> = VecDeque::new();
    for n in 0..events as u64 {
        let due = started + Duration::from_secs_f64(n as f64 / PUBLISH_RATE);
        if due > tokio::time::Instant::now() + Duration::from_millis(2) {
            tokio::time::sleep_until(due).await;
        }
        let enqueued = demo.sender.publish_event(event(n)).await?;
        demo.published.add(&demo.published.main, enqueued);
        if events::relayed(n) {
            duplicates.push_back((tokio::time::Instant::now() + RELAY_LAG, n));
        }
        while let Some(&(at, dup)) = duplicates.front() {
            if at > tokio::time::Instant::now() {
                break;
            }
            duplicates.pop_front();
            let enqueued = demo.relay.publish_event(event(dup)).await?;
            demo.published.add(&demo.published.relay, enqueued);
        }
    }
    for (at, dup) in duplicates {
        tokio::time::sleep_until(at).await;
        let enqueued = demo.relay.publish_event(event(dup)).await?;
        demo.published.add(&demo.published.relay, enqueued);
    }
    Ok(())
}
