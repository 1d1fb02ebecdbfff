//! Retries over real HTTP, driven by a test clock: the schedule, `Retry-After`, 409, exhaustion and replay.

mod common;

use std::time::Duration;

use common::*;
use hookguard_sender::{
    AttemptResult, DeadLetterFilter, DeadLetterReason, Event, JobState, Page, Queue, RetryPolicy,
};

const S: Duration = Duration::from_secs(1);

#[tokio::test]
async fn server_error_then_success_follows_the_schedule_with_a_stable_id_and_fresh_signatures() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::status(500)]).await;
    let sender = sender_for(&clock, &rx);

    let job = sender
        .send(
            "ep",
            Event::new("invoice.paid", r#"{"n":1}"#).with_id("evt_1"),
        )
        .await
        .unwrap();
    assert_eq!(rx.count(), 0, "send only persists (202 pattern)");
    assert_eq!(sender.process_due(10).await.unwrap(), 1);
    let rec = record(&sender, job).await;
    assert_eq!(
        rec.state,
        JobState::Scheduled { due_at: T0 + S * 5 },
        "second attempt 5 s later"
    );
    assert_eq!(rec.attempts.len(), 1);
    assert_eq!((rec.attempts[0].number, rec.attempts[0].at), (1, T0));
    assert_eq!(rec.attempts[0].result, AttemptResult::Status(500));

    clock.advance(S * 5 - Duration::from_millis(1));
    assert_eq!(sender.process_due(10).await.unwrap(), 0, "not due yet");
    clock.advance(Duration::from_millis(1));
    assert_eq!(sender.process_due(10).await.unwrap(), 1);

    let rec = record(&sender, job).await;
    assert_eq!(rec.state, JobState::Delivered { at: T0 + S * 5 });
    let seen: Vec<_> = rec
        .attempts
        .iter()
        .map(|a| (a.number, a.at, a.result.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, T0, AttemptResult::Status(500)),
            (2, T0 + S * 5, AttemptResult::Status(200))
        ]
    );

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(
            r.verified,
            Ok(0),
            "the receiver verifies with hookguard::Verifier"
        );
        assert_eq!(
            r.header("webhook-id"),
            "evt_1",
            "the event id is stable across retries"
        );
        assert_eq!(r.body, r#"{"n":1}"#);
        assert_eq!(r.header("content-type"), "application/json");
    }
    assert_eq!(
        reqs[0].header("webhook-timestamp"),
        T0.as_unix_seconds().to_string()
    );
    assert_eq!(
        reqs[1].header("webhook-timestamp"),
        (T0 + S * 5).as_unix_seconds().to_string(),
        "fresh timestamp"
    );
    assert_ne!(
        reqs[0].header("webhook-signature"),
        reqs[1].header("webhook-signature"),
        "fresh signature"
    );
}

#[tokio::test]
async fn the_whole_standard_schedule_then_the_dead_letter_queue() {
    let clock = test_clock();
    let rx = Receiver::start_with(
        "rx",
        verifier(&clock),
        [],
        Reply::status(503),
        EventLog::default(),
    )
    .await;
    let sender = sender_for(&clock, &rx);
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();

    let mut at = T0;
    let mut expected = vec![T0];
    for delay in [5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400] {
        at = at + S * delay;
        expected.push(at);
    }
    for (i, due) in expected.iter().enumerate() {
        clock.set(*due);
        assert_eq!(
            sender.process_due(10).await.unwrap(),
            1,
            "attempt {} is due at {due}",
            i + 1
        );
    }
    let rec = record(&sender, job).await;
    assert_eq!(
        rec.attempts.iter().map(|a| a.at).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        rec.state,
        JobState::Dead {
            at: *expected.last().unwrap(),
            reason: DeadLetterReason::AttemptsExhausted
        }
    );
    assert_eq!(rx.count(), 10);
    assert!(rx.requests().iter().all(|r| r.verified.is_ok()));
    let total = expected.last().unwrap().saturating_duration_since(T0);
    assert_eq!(total, Duration::from_secs(75 * 3600 + 35 * 60 + 5));
}

#[tokio::test]
async fn retry_after_is_honoured_on_any_status_and_clamped() {
    let clock = test_clock();
    let rx = Receiver::start(
        &clock,
        [
            Reply::retry_after(429, "7"),
            Reply::retry_after(503, "100000"),
            Reply::retry_after(500, "0"),
        ],
    )
    .await;
    let sender = builder(&clock)
        .endpoint(endpoint("ep", &rx.url()))
        .retry_after_cap(Duration::from_secs(3600))
        .build()
        .unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();

    sender.process_due(1).await.unwrap();
    assert_eq!(
        record(&sender, job).await.state,
        JobState::Scheduled { due_at: T0 + S * 7 },
        "429: 7 s, not 5 s"
    );
    clock.set(T0 + S * 7);
    sender.process_due(1).await.unwrap();
    let t = T0 + S * 7 + S * 3600;
    assert_eq!(
        record(&sender, job).await.state,
        JobState::Scheduled { due_at: t },
        "503: clamped to 1 h, longer than the schedule's 5 min"
    );
    clock.set(t);
    sender.process_due(1).await.unwrap();
    let t = t + S * 30 * 60;
    assert_eq!(
        record(&sender, job).await.state,
        JobState::Scheduled { due_at: t },
        "500, Retry-After: 0 → the schedule's 30 min, never sooner"
    );
    clock.set(t);
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, job).await;
    assert_eq!(rec.state, JobState::Delivered { at: t });
    assert_eq!(rec.job.attempts, 4, "every answered attempt was spent");
}

#[tokio::test]
async fn conflict_is_retried_not_dead_lettered() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::status(409), Reply::status(409)]).await;
    let sender = sender_for(&clock, &rx);
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();
    assert_eq!(
        record(&sender, job).await.state,
        JobState::Scheduled { due_at: T0 + S * 5 }
    );
    clock.advance(S * 5);
    sender.process_due(1).await.unwrap();
    assert_eq!(
        record(&sender, job).await.state,
        JobState::Scheduled {
            due_at: T0 + S * 305
        }
    );
    clock.advance(S * 300);
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, job).await;
    assert!(matches!(rec.state, JobState::Delivered { .. }));
    let statuses: Vec<_> = rec.attempts.iter().map(|a| a.result.status()).collect();
    assert_eq!(statuses, [Some(409), Some(409), Some(200)]);
}

#[tokio::test]
async fn exhausted_jobs_are_dead_lettered_with_history_and_replay_with_a_fresh_budget() {
    let clock = test_clock();
    let rx = Receiver::start(
        &clock,
        [Reply::status(503), Reply::status(502), Reply::status(500)],
    )
    .await;
    let policy = RetryPolicy::exponential(S, 2.0, S * 10, 3).without_jitter();
    let sender = builder(&clock)
        .endpoint(endpoint("ep", &rx.url()))
        .retry_policy(policy)
        .build()
        .unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();

    sender.process_due(1).await.unwrap();
    clock.advance(S);
    sender.process_due(1).await.unwrap();
    clock.advance(S * 2);
    sender.process_due(1).await.unwrap();
    let dead_at = T0 + S * 3;
    let rec = record(&sender, job).await;
    assert_eq!(
        rec.state,
        JobState::Dead {
            at: dead_at,
            reason: DeadLetterReason::AttemptsExhausted
        }
    );
    let history: Vec<_> = rec
        .attempts
        .iter()
        .map(|a| (a.number, a.at, a.result.status()))
        .collect();
    assert_eq!(
        history,
        [
            (1, T0, Some(503)),
            (2, T0 + S, Some(502)),
            (3, dead_at, Some(500))
        ]
    );

    let page = sender
        .queue()
        .dead_letters(&DeadLetterFilter::endpoint("ep"), Page::first(10))
        .await
        .unwrap();
    assert_eq!(page.items, vec![rec]);

    clock.advance(S * 100);
    sender.queue().replay(job, sender.now()).await.unwrap();
    assert_eq!(sender.process_due(1).await.unwrap(), 1);
    let rec = record(&sender, job).await;
    assert!(matches!(rec.state, JobState::Delivered { .. }));
    assert_eq!(rec.attempts.len(), 4, "history kept across the replay");
    assert_eq!(rec.attempts[3].number, 1, "a fresh attempt budget");
    assert_eq!(sender.queue().stats(sender.now()).await.unwrap().dead, 0);
}
