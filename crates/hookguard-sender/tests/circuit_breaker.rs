//! The circuit breaker over real HTTP: five failures open it, held-back jobs spend no attempt, one probe
//! after the cooldown, a failed probe re-opens it, a good one closes it.

mod common;

use std::time::Duration;

use common::*;
use hookguard_sender::{BreakerState, Event, JobState, RetryPolicy};

const S: Duration = Duration::from_secs(1);

#[tokio::test]
async fn breaker_opens_defers_without_spending_attempts_and_recovers_through_one_probe() {
    let clock = test_clock();
    // Six failures (five to open, one failed probe), then healthy.
    let rx = Receiver::start(&clock, std::iter::repeat_n(Reply::status(500), 6)).await;
    let policy = RetryPolicy::schedule(
        [Duration::ZERO]
            .into_iter()
            .chain(std::iter::repeat_n(S, 19)),
        0.0,
    );
    let sender = builder(&clock)
        .endpoint(endpoint("ep", &rx.url()))
        .retry_policy(policy)
        .build()
        .unwrap();
    let a = sender.send("ep", Event::new("t", "{}")).await.unwrap();

    for i in 0..5 {
        assert_eq!(
            sender.breaker_state("ep"),
            Some(BreakerState::Closed { failures: i })
        );
        assert_eq!(sender.process_due(10).await.unwrap(), 1);
        clock.advance(S);
    }
    let opened_at = T0 + S * 4;
    let until = opened_at + S * 60;
    assert_eq!(
        sender.breaker_state("ep"),
        Some(BreakerState::Open { until })
    );
    assert_eq!(rx.count(), 5);

    // Job a is due again (retry after 1 s) and a new job b arrives: while the breaker is open the endpoint
    // is not even leased, so neither job is touched and no attempt is spent.
    let b = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    assert_eq!(
        sender.process_due(10).await.unwrap(),
        0,
        "not leased while open"
    );
    assert_eq!(rx.count(), 5, "no request while open");
    let ra = record(&sender, a).await;
    assert_eq!(ra.job.attempts, 5, "no attempt spent");
    assert!(matches!(ra.state, JobState::Scheduled { .. }));
    assert!(matches!(
        record(&sender, b).await.state,
        JobState::Scheduled { .. }
    ));

    // Half-open: exactly one job is leased, the probe; it fails and re-opens the breaker.
    clock.set(until);
    assert_eq!(
        sender.breaker_state("ep"),
        Some(BreakerState::HalfOpen { probing: false })
    );
    assert_eq!(sender.process_due(10).await.unwrap(), 1, "only the probe");
    assert_eq!(rx.count(), 6, "one probe");
    let reopened = until + S * 60;
    assert_eq!(
        sender.breaker_state("ep"),
        Some(BreakerState::Open { until: reopened })
    );

    // Second cooldown: the probe succeeds and closes the breaker; the other job follows.
    clock.set(reopened);
    assert_eq!(sender.process_due(10).await.unwrap(), 1);
    assert_eq!(rx.count(), 7);
    assert_eq!(
        sender.breaker_state("ep"),
        Some(BreakerState::Closed { failures: 0 })
    );
    clock.advance(S * 2);
    sender.process_due(10).await.unwrap();
    assert!(matches!(
        record(&sender, a).await.state,
        JobState::Delivered { .. }
    ));
    assert!(matches!(
        record(&sender, b).await.state,
        JobState::Delivered { .. }
    ));
    assert_eq!(rx.count(), 8);
    let a_attempts = record(&sender, a).await.attempts.len();
    let b_attempts = record(&sender, b).await.attempts.len();
    assert_eq!(
        a_attempts + b_attempts,
        8,
        "every request is one recorded attempt, and only those"
    );
}

#[tokio::test]
async fn answers_that_show_the_endpoint_is_up_do_not_trip_the_breaker() {
    let clock = test_clock();
    let rx = Receiver::start_with(
        "rx",
        verifier(&clock),
        [],
        Reply::status(409),
        EventLog::default(),
    )
    .await;
    let ep = endpoint("ep", &rx.url()).with_max_in_flight(10);
    let sender = builder(&clock).endpoint(ep).build().unwrap();
    for _ in 0..8 {
        sender.send("ep", Event::new("t", "{}")).await.unwrap();
    }
    assert_eq!(sender.process_due(10).await.unwrap(), 8);
    assert_eq!(rx.count(), 8);
    assert_eq!(
        sender.breaker_state("ep"),
        Some(BreakerState::Closed { failures: 0 })
    );
}

#[tokio::test]
async fn a_probe_whose_attempt_is_dropped_is_handed_back() {
    let clock = test_clock();
    // Five failures open the breaker; the probe then hangs until its caller gives up on it.
    let replies = std::iter::repeat_n(Reply::status(500), 5).chain([Reply::Hang]);
    let rx = Receiver::start(&clock, replies).await;
    let policy = RetryPolicy::schedule(std::iter::repeat_n(Duration::ZERO, 10), 0.0);
    let sender = builder(&clock)
        .endpoint(endpoint("ep", &rx.url()))
        .retry_policy(policy)
        .build()
        .unwrap();
    sender.send("ep", Event::new("t", "{}")).await.unwrap();
    for _ in 0..5 {
        assert_eq!(sender.process_due(1).await.unwrap(), 1);
    }
    let Some(BreakerState::Open { until }) = sender.breaker_state("ep") else {
        panic!("five failures open the breaker")
    };
    clock.set(until);

    let gave_up = tokio::time::timeout(Duration::from_millis(300), sender.process_due(1)).await;
    assert!(gave_up.is_err(), "the probe hangs");
    assert_eq!(rx.count(), 6, "the probe was sent");
    assert_eq!(
        sender.breaker_state("ep"),
        Some(BreakerState::HalfOpen { probing: false }),
        "no outcome was recorded, so another probe may go"
    );
}
