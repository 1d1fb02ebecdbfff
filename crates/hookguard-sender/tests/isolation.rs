//! Workers over real HTTP: a hanging endpoint never holds every worker; graceful shutdown finishes or
//! releases leased jobs; the reaper recovers a crashed worker's lease.

mod common;

use std::time::Duration;

use common::*;
use hookguard::{Scheme, Verifier};
use hookguard_sender::{
    Attempt, AttemptResult, Endpoint, Event, JobState, LeaseOptions, MemoryQueue, Queue,
    QueueError, RetryPolicy, Sender, Transition,
};

fn live_verifier() -> Verifier {
    Verifier::new(Scheme::standard_webhooks(), KEY).unwrap()
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_beside_a_healthy_one_never_holds_all_workers() {
    const HEALTHY: usize = 30;
    let log = EventLog::default();
    let hang = Receiver::start_with("hang", live_verifier(), [], Reply::Hang, log.clone()).await;
    let healthy = Receiver::start_with(
        "healthy",
        live_verifier(),
        [],
        Reply::status(200),
        log.clone(),
    )
    .await;
    let sender = Sender::builder(MemoryQueue::new())
        .allow_private_networks()
        .workers(4)
        .defer_delay(Duration::from_millis(20))
        .poll_interval(Duration::from_millis(10))
        .retry_policy(RetryPolicy::standard_webhooks().without_jitter())
        .endpoint(Endpoint::new("hang", hang.url(), KEY).with_timeout(Duration::from_secs(3)))
        .endpoint(Endpoint::new("healthy", healthy.url(), KEY))
        .build()
        .unwrap();
    // The hanging endpoint's jobs go first, more of them than there are workers.
    for _ in 0..6 {
        sender.send("hang", Event::new("t", "{}")).await.unwrap();
    }
    let mut healthy_jobs = Vec::new();
    for i in 0..HEALTHY {
        healthy_jobs.push(
            sender
                .send("healthy", Event::new("t", format!("{{\"n\":{i}}}")))
                .await
                .unwrap(),
        );
    }
    let workers = sender.spawn();

    // Ordering, not timing: when the last healthy delivery is acknowledged, no hanging request has timed
    // out yet.
    wait_until("every healthy delivery acknowledged", async || {
        for id in &healthy_jobs {
            if !matches!(record(&sender, *id).await.state, JobState::Delivered { .. }) {
                return false;
            }
        }
        true
    })
    .await;
    let events = log.lock().unwrap().clone();
    assert!(
        !events.iter().any(|e| e == "hang:dropped"),
        "a hanging request timed out before the healthy endpoint was served: {events:?}"
    );
    // Checked here, before any hanging request can time out: after a timeout the next hanging job may be
    // sent before the receiver notices the dropped connection, so later logs cannot show the cap.
    wait_until("both hanging requests", async || {
        log.lock()
            .unwrap()
            .iter()
            .filter(|e| *e == "hang:received")
            .count()
            >= 2
    })
    .await;
    assert_eq!(
        log.lock()
            .unwrap()
            .iter()
            .filter(|e| *e == "hang:received")
            .count(),
        2,
        "max_in_flight 2: two hang, no third is sent"
    );

    wait_until("the first timeout", async || {
        log.lock().unwrap().iter().any(|e| e == "hang:dropped")
    })
    .await;
    let events = log.lock().unwrap().clone();
    let first_timeout = events.iter().position(|e| e == "hang:dropped").unwrap();
    let healthy_before = events[..first_timeout]
        .iter()
        .filter(|e| *e == "healthy:received")
        .count();
    assert_eq!(
        healthy_before, HEALTHY,
        "every healthy delivery arrived before the first timeout: {events:?}"
    );

    assert!(healthy.requests().iter().all(|r| r.verified.is_ok()));

    // Shutdown with a short grace: hanging attempts are abandoned and their jobs released, not lost.
    workers.shutdown(Duration::from_millis(100)).await;
    let stats = sender.queue().stats(sender.now()).await.unwrap();
    assert_eq!(stats.in_flight, 0, "nothing left leased after shutdown");
    assert_eq!(
        stats.due + stats.scheduled,
        6,
        "the hanging endpoint's jobs are all still there"
    );
}

#[tokio::test]
async fn graceful_shutdown_lets_an_attempt_in_progress_finish() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::Slow(Duration::from_millis(300))]).await;
    let sender = builder(&clock)
        .endpoint(endpoint("ep", &rx.url()))
        .poll_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    let workers = sender.spawn();
    wait_until("the request", async || rx.count() == 1).await;
    workers.shutdown(Duration::from_secs(10)).await;
    assert!(
        matches!(record(&sender, job).await.state, JobState::Delivered { .. }),
        "finished, not released"
    );
}

#[tokio::test]
async fn the_reaper_returns_a_crashed_workers_lease_and_its_token_goes_stale() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, []).await;
    let sender = sender_for(&clock, &rx);
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();

    // A worker leases the job and dies.
    let crashed = sender
        .queue()
        .lease(
            sender.now(),
            1,
            Duration::from_secs(30),
            &LeaseOptions::all(),
        )
        .await
        .unwrap()
        .jobs
        .remove(0);
    assert_eq!(
        sender.process_due(10).await.unwrap(),
        0,
        "leased, so not due"
    );
    assert_eq!(sender.reap().await.unwrap(), 0, "the lease has not lapsed");
    clock.advance(Duration::from_secs(31));
    assert_eq!(sender.reap().await.unwrap(), 1);
    assert_eq!(sender.process_due(10).await.unwrap(), 1);
    let rec = record(&sender, job).await;
    assert!(matches!(rec.state, JobState::Delivered { .. }));
    assert_eq!(rec.attempts.len(), 1, "the crashed lease spent no attempt");

    let late = Attempt::new(1, sender.now(), AttemptResult::Status(200), Duration::ZERO);
    let results = sender
        .queue()
        .conclude(
            sender.now(),
            vec![(crashed.handle, Transition::Ack { attempt: late })],
        )
        .await
        .unwrap();
    assert!(matches!(results[0], Err(QueueError::LeaseLost)));
}
