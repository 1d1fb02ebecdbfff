//! No deferral churn: a rate-limited backlog costs about one lease call per batch, and another endpoint's
//! jobs keep their latency (fake transport, paused tokio time, numeric bounds on calls; no timing).

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use hookguard_sender::{Endpoint, Event, MemoryQueue, Queue, RateLimit, Sender};

const RATE: f64 = 100.0;
const BATCH: usize = 16;

#[tokio::test(start_paused = true)]
async fn a_rate_limited_backlog_costs_one_lease_per_batch_and_delays_no_one_else() {
    let clock = TokioClock::new();
    let transport = FakeTransport::new(&clock);
    let sender = Sender::builder(Counting::new(MemoryQueue::new()))
        .clock(clock.clone())
        .transport(transport.clone())
        .workers(64)
        .batch(BATCH)
        .endpoint(
            Endpoint::new("limited", "https://limited.example/hooks", KEY)
                .with_rate_limit(RateLimit::new(RATE, BATCH as u32))
                .with_max_in_flight(BATCH),
        )
        .endpoint(Endpoint::new("other", "https://other.example/hooks", KEY).with_max_in_flight(8))
        .build()
        .unwrap();
    for i in 0..10_000 {
        sender
            .send(
                "limited",
                Event::new("t", "{}").with_id(format!("bulk_{i}")),
            )
            .await
            .unwrap();
    }
    let workers = sender.spawn();

    // Ten seconds of backlog; every 250 ms one job for the other endpoint.
    let mut others = Vec::new();
    for i in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let id = format!("other_{i}");
        sender
            .send("other", Event::new("t", "{}").with_id(id.clone()))
            .await
            .unwrap();
        others.push((id, sender.now()));
    }
    tokio::time::sleep(Duration::from_millis(250)).await;

    let limited = transport.sent_to("limited");
    let secs = 10.0;
    // A token bucket of 16 at 100/s: 16 at once, then 100 a second.
    assert!(
        (limited.len() as f64) <= RATE * (secs + 0.25) + BATCH as f64 + 1.0,
        "never faster than the limit: {}",
        limited.len()
    );
    assert!(
        (limited.len() as f64) >= RATE * secs * 0.95,
        "and close to it: {}",
        limited.len()
    );

    // Lease calls per second while the backlog drains: at most rate/batch + 2 (the other endpoint's
    // enqueues account for 4 a second here, so they are counted apart).
    let q = sender.queue();
    let leases = q.leases_between(T0 + Duration::from_secs(1), T0 + Duration::from_secs(10));
    let bound = (RATE / BATCH as f64 + 2.0 + 4.0) * 9.0;
    assert!(
        (leases as f64) <= bound,
        "{leases} lease calls in 9 s (bound {bound})"
    );
    let concludes = q.concludes.load(Ordering::Relaxed);
    assert!(
        concludes <= limited.len() / 2 + 200,
        "conclusions are batched: {concludes} calls for {} deliveries",
        limited.len()
    );

    // The other endpoint's jobs go out as soon as they are enqueued, backlog or not.
    let sent = transport.sent_to("other");
    assert_eq!(sent.len(), others.len(), "every other job delivered");
    for (id, enqueued) in &others {
        let (_, at) = sent.iter().find(|(e, _)| e == id).expect("delivered");
        let waited = at.saturating_duration_since(*enqueued);
        assert!(
            waited <= Duration::from_millis(5),
            "{id} waited {waited:?} behind the backlog"
        );
    }
    let stats = q.stats(sender.now()).await.unwrap();
    assert_eq!(stats.dead, 0, "nothing dead-lettered");
    workers.shutdown(Duration::from_secs(1)).await;
}
