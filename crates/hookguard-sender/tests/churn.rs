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

    // Lease calls in every second while the backlog drains: at most rate/batch + 2, plus one for each of
    // the other endpoint's enqueues in that second (4), which are counted apart.
    let q = sender.queue();
    let bound = RATE / BATCH as f64 + 2.0 + 4.0;
    for sec in 1..10 {
        let from = T0 + Duration::from_secs(sec);
        let leases = q.leases_between(from, from + Duration::from_secs(1));
        assert!(
            (leases as f64) <= bound,
            "{leases} lease calls in second {sec} (bound {bound})"
        );
    }
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

#[tokio::test(start_paused = true)]
async fn a_backlog_alone_costs_at_most_rate_over_batch_plus_two_lease_calls_a_second() {
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
        .build()
        .unwrap();
    let jobs: Vec<_> = (0..10_000)
        .map(|i| {
            hookguard_sender::NewJob::new(
                "limited",
                format!("bulk_{i}"),
                "t",
                bytes::Bytes::from_static(b"{}"),
                T0,
            )
            .unwrap()
        })
        .collect();
    sender.queue().enqueue_many(jobs).await.unwrap();
    let workers = sender.spawn();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let q = sender.queue();
    for sec in 0..6 {
        let from = T0 + Duration::from_secs(sec);
        let leases = q.leases_between(from, from + Duration::from_secs(1));
        assert!(
            leases as f64 <= RATE / BATCH as f64 + 2.0,
            "{leases} lease calls in second {sec}"
        );
    }
    let sent = transport.sent_to("limited").len();
    assert!((590..=620).contains(&sent), "100/s plus one burst: {sent}");
    workers.shutdown(Duration::from_secs(1)).await;
}
