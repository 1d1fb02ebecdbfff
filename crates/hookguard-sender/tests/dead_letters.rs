//! Dead-lettering over real HTTP: permanent statuses, 410 disabling the endpoint, listing, replay and purge.

mod common;

use std::time::Duration;

use common::*;
use hookguard_sender::{
    AttemptResult, DeadLetterFilter, DeadLetterReason, Event, JobState, Page, PermanentStatuses,
    Queue, QueueError,
};

#[tokio::test]
async fn not_found_is_dead_lettered_at_once_with_a_bounded_body_prefix() {
    let clock = test_clock();
    let long = "x".repeat(5000).leak() as &'static str;
    let rx = Receiver::start(&clock, [Reply::Status(404, long, Vec::new())]).await;
    let sender = builder(&clock)
        .endpoint(endpoint("ep", &rx.url()))
        .response_body_limit(100)
        .build()
        .unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();

    let rec = record(&sender, job).await;
    assert_eq!(
        rec.state,
        JobState::Dead {
            at: T0,
            reason: DeadLetterReason::PermanentStatus(404)
        }
    );
    assert_eq!(rec.attempts.len(), 1);
    assert_eq!(rec.attempts[0].result, AttemptResult::Status(404));
    assert_eq!(
        rec.attempts[0].response_body,
        "x".repeat(100),
        "only the first 100 bytes are kept"
    );
    clock.advance(Duration::from_secs(86_400));
    assert_eq!(sender.process_due(10).await.unwrap(), 0, "never retried");
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn permanent_statuses_are_configurable() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::status(404), Reply::status(451)]).await;
    let sender = builder(&clock)
        .endpoint(endpoint("ep", &rx.url()))
        .permanent_statuses(PermanentStatuses::new([451]).unwrap())
        .build()
        .unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();
    assert!(
        matches!(record(&sender, job).await.state, JobState::Scheduled { .. }),
        "404 is retried now"
    );
    clock.advance(Duration::from_secs(5));
    sender.process_due(1).await.unwrap();
    assert!(matches!(
        record(&sender, job).await.state,
        JobState::Dead {
            reason: DeadLetterReason::PermanentStatus(451),
            ..
        }
    ));
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_later_jobs_are_dead_lettered_without_a_request() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::status(410)]).await;
    let sender = sender_for(&clock, &rx);
    let first = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();
    assert_eq!(
        record(&sender, first).await.state,
        JobState::Dead {
            at: T0,
            reason: DeadLetterReason::EndpointGone
        }
    );
    let state = sender.queue().endpoint_state("ep").await.unwrap();
    assert!(!state.enabled, "410 disables the endpoint in the queue");
    assert_eq!(state.reason.as_deref(), Some("endpoint-gone"));
    assert_eq!(state.changed_at, Some(T0));

    let second = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, second).await;
    assert_eq!(
        rec.state,
        JobState::Dead {
            at: T0,
            reason: DeadLetterReason::EndpointDisabled
        }
    );
    assert!(rec.attempts.is_empty(), "no attempt was made");
    assert_eq!(rx.count(), 1, "no request went out");

    // Replaying while it is disabled would dead-letter them again at once: the queue says so instead.
    assert!(matches!(
        sender.queue().replay(first, sender.now()).await,
        Err(QueueError::EndpointDisabled(ep)) if ep == "ep"
    ));
    // The operator fixes the subscriber, re-enables it and replays its dead letters.
    sender.enable("ep").await.unwrap();
    let replayed = sender
        .queue()
        .replay_all(&DeadLetterFilter::endpoint("ep"), sender.now(), 100)
        .await
        .unwrap();
    assert_eq!(replayed, (2, false));
    assert_eq!(sender.process_due(10).await.unwrap(), 2);
    for id in [first, second] {
        assert!(matches!(
            record(&sender, id).await.state,
            JobState::Delivered { .. }
        ));
    }
    assert_eq!(rx.count(), 3);
}

#[tokio::test]
async fn dead_letters_are_listed_by_endpoint_and_time_and_purged() {
    let clock = test_clock();
    let a = Receiver::start_with(
        "a",
        verifier(&clock),
        [],
        Reply::status(422),
        EventLog::default(),
    )
    .await;
    let b = Receiver::start_with(
        "b",
        verifier(&clock),
        [],
        Reply::status(400),
        EventLog::default(),
    )
    .await;
    let sender = builder(&clock)
        .endpoint(endpoint("a", &a.url()))
        .endpoint(endpoint("b", &b.url()))
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(sender.send("a", Event::new("t", "{}")).await.unwrap());
        ids.push(sender.send("b", Event::new("t", "{}")).await.unwrap());
        sender.process_due(10).await.unwrap();
        if i == 2 {
            clock.advance(Duration::from_secs(60));
        }
    }
    let q = sender.queue();
    let mut listed = Vec::new();
    let mut page = Page::first(2);
    loop {
        let got = q
            .dead_letters(&DeadLetterFilter::endpoint("a"), page)
            .await
            .unwrap();
        listed.extend(got.items.iter().map(|r| r.job.id));
        match got.next {
            Some(c) => {
                page = Page {
                    limit: 2,
                    after: Some(c),
                }
            }
            None => break,
        }
    }
    let a_ids: Vec<_> = ids.iter().step_by(2).copied().collect();
    assert_eq!(
        listed, a_ids,
        "endpoint a's five, oldest first, two per page"
    );

    let recent = DeadLetterFilter {
        since: Some(T0 + Duration::from_secs(60)),
        ..DeadLetterFilter::all()
    };
    assert_eq!(
        q.dead_letters(&recent, Page::first(100))
            .await
            .unwrap()
            .items
            .len(),
        4,
        "the two rounds after the minute"
    );
    assert_eq!(
        q.purge(&DeadLetterFilter::endpoint("b"), 100)
            .await
            .unwrap(),
        (5, false)
    );
    assert_eq!(q.stats(sender.now()).await.unwrap().dead, 5);
}

#[tokio::test]
async fn redirects_dead_letter_at_once_and_do_not_count_against_the_breaker() {
    let clock = test_clock();
    let rx = Receiver::start(
        &clock,
        [Reply::Status(
            302,
            "",
            vec![("location", "http://127.0.0.1:1/elsewhere".into())],
        )],
    )
    .await;
    let sender = sender_for(&clock, &rx);
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, job).await;
    assert_eq!(
        rec.state,
        JobState::Dead {
            at: T0,
            reason: DeadLetterReason::Redirect(302)
        },
        "never followed, never retried"
    );
    assert_eq!(rec.attempts.len(), 1);
    assert_eq!(
        sender.breaker_state("ep"),
        Some(hookguard_sender::BreakerState::Closed { failures: 0 })
    );
}
