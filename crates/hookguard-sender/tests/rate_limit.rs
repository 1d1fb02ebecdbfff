//! Rate limits and in-flight caps hold jobs back without spending attempts.

mod common;

use std::time::Duration;

use common::*;
use hookguard_sender::{Event, JobState, RateLimit};

#[tokio::test]
async fn token_bucket_defers_the_excess_until_tokens_accrue() {
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
    assert_eq!(sender.process_due(10).await.unwrap(), 5);
    assert_eq!(rx.count(), 2, "a burst of two");
    let mut deferred = 0;
    for id in &ids {
        let rec = record(&sender, *id).await;
        if let JobState::Scheduled { due_at } = rec.state {
            assert_eq!(rec.job.attempts, 0, "held back, not attempted");
            assert_eq!(
                due_at,
                T0 + Duration::from_millis(500),
                "when the next token accrues"
            );
            deferred += 1;
        }
    }
    assert_eq!(deferred, 3);
    clock.advance(Duration::from_millis(500));
    sender.process_due(10).await.unwrap();
    assert_eq!(rx.count(), 3, "one token per 500 ms");
    clock.advance(Duration::from_secs(10));
    sender.process_due(10).await.unwrap();
    assert_eq!(rx.count(), 5, "the bucket refilled to its burst of 2");
}

#[tokio::test]
async fn max_in_flight_defers_jobs_beyond_the_cap() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::Hang, Reply::Hang]).await;
    let ep = endpoint("ep", &rx.url()).with_timeout(Duration::from_millis(300));
    let sender = builder(&clock)
        .endpoint(ep)
        .defer_delay(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(sender.send("ep", Event::new("t", "{}")).await.unwrap());
    }
    // Four leased at once, delivered concurrently: two go (and hang), two are held back.
    assert_eq!(sender.process_due(10).await.unwrap(), 4);
    assert_eq!(rx.count(), 2, "max_in_flight 2");
    let mut states = Vec::new();
    for id in &ids {
        let rec = record(&sender, *id).await;
        states.push((rec.job.attempts, rec.state));
    }
    let held = states
        .iter()
        .filter(|s| {
            **s == (
                0,
                JobState::Scheduled {
                    due_at: T0 + Duration::from_secs(1),
                },
            )
        })
        .count();
    assert_eq!(held, 2, "{states:?}");
}
