//! Rate limits and in-flight caps hold jobs back without spending attempts: a held-back endpoint's jobs are
//! not even leased (no deferral churn).

mod common;

use std::time::Duration;

use common::*;
use hookguard_sender::{Event, JobState, RateLimit};

#[tokio::test]
async fn a_rate_limited_endpoint_is_leased_only_as_far_as_its_tokens_go() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, []).await;
    let ep = endpoint("ep", &rx.url())
        .with_rate_limit(RateLimit::new(2.0, 2))
        .with_max_in_flight(10);
    let sender = builder(&clock).endpoint(ep).build().unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(sender.send("ep", Event::new("t", "{}")).await.unwrap());
    }
    assert_eq!(sender.process_due(10).await.unwrap(), 2, "a burst of two");
    assert_eq!(rx.count(), 2);
    for id in &ids {
        let rec = record(&sender, *id).await;
        if let JobState::Scheduled { due_at } = rec.state {
            assert_eq!(rec.job.attempts, 0, "held back, not attempted");
            assert_eq!(due_at, T0, "not leased, so not rescheduled either");
        }
    }
    clock.advance(Duration::from_millis(500));
    assert_eq!(
        sender.process_due(10).await.unwrap(),
        0,
        "one token is not a batch's worth (min(batch, burst) = 2): no lease call wasted on one job"
    );
    clock.advance(Duration::from_millis(500));
    assert_eq!(sender.process_due(10).await.unwrap(), 2);
    assert_eq!(rx.count(), 4, "one token per 500 ms");
    clock.advance(Duration::from_secs(10));
    sender.process_due(10).await.unwrap();
    assert_eq!(rx.count(), 5);
}

#[tokio::test]
async fn max_in_flight_leaves_jobs_beyond_the_cap_in_the_queue() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::Hang, Reply::Hang]).await;
    let ep = endpoint("ep", &rx.url()).with_timeout(Duration::from_millis(300));
    let sender = builder(&clock).endpoint(ep).build().unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(sender.send("ep", Event::new("t", "{}")).await.unwrap());
    }
    // Two leased (max_in_flight 2) and delivered concurrently (they hang, then time out); two stay put.
    assert_eq!(sender.process_due(10).await.unwrap(), 2);
    assert_eq!(rx.count(), 2, "max_in_flight 2");
    let untouched = {
        let mut n = 0;
        for id in &ids {
            let rec = record(&sender, *id).await;
            if (rec.job.attempts, rec.state) == (0, JobState::Scheduled { due_at: T0 }) {
                n += 1;
            }
        }
        n
    };
    assert_eq!(untouched, 2);
}
