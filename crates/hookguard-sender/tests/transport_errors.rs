//! Attempts that get no clean answer: a hanging receiver, a refused connection, a response cut off mid-body.

mod common;

use std::time::Duration;

use common::*;
use hookguard_sender::{AttemptErrorKind, AttemptResult, Event, JobState};

const S: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_receiver_hanging_past_the_timeout_is_a_timeout_and_retried() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::Hang]).await;
    let ep = endpoint("ep", &rx.url()).with_timeout(Duration::from_millis(300));
    let sender = builder(&clock).endpoint(ep).build().unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();

    let rec = record(&sender, job).await;
    assert_eq!(rec.state, JobState::Scheduled { due_at: T0 + S * 5 });
    assert_eq!(
        rec.attempts[0].result.error_kind(),
        Some(AttemptErrorKind::Timeout)
    );
    assert!(
        rec.attempts[0].latency >= Duration::from_millis(300),
        "{:?}",
        rec.attempts[0].latency
    );
    assert!(
        rec.attempts[0].latency < Duration::from_secs(2),
        "the endpoint timeout bounds the attempt"
    );

    clock.advance(S * 5);
    sender.process_due(1).await.unwrap();
    assert!(matches!(
        record(&sender, job).await.state,
        JobState::Delivered { .. }
    ));
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_and_retried() {
    let clock = test_clock();
    let url = format!("http://127.0.0.1:{}/hooks", closed_port());
    let sender = builder(&clock)
        .endpoint(endpoint("ep", &url))
        .build()
        .unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, job).await;
    assert_eq!(rec.state, JobState::Scheduled { due_at: T0 + S * 5 });
    match &rec.attempts[0].result {
        AttemptResult::Error { kind, message } => {
            assert_eq!(*kind, AttemptErrorKind::Connect);
            assert!(!message.is_empty());
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_response_dropped_mid_body_is_retried_and_then_delivered() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::DropMidBody(200, None)]).await;
    let sender = sender_for(&clock, &rx);
    let job = sender
        .send("ep", Event::new("t", "{}").with_id("evt_drop"))
        .await
        .unwrap();
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, job).await;
    assert_eq!(
        rec.state,
        JobState::Scheduled { due_at: T0 + S * 5 },
        "a broken answer is not a delivery"
    );
    match &rec.attempts[0].result {
        AttemptResult::Error { kind, message } => {
            assert_eq!(*kind, AttemptErrorKind::Body, "{message}");
            assert!(message.starts_with("status 200"), "{message}");
        }
        other => panic!("expected a body error, got {other:?}"),
    }
    clock.advance(S * 5);
    sender.process_due(1).await.unwrap();
    assert!(matches!(
        record(&sender, job).await.state,
        JobState::Delivered { .. }
    ));
    let ids: Vec<_> = rx
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(
        ids,
        ["evt_drop", "evt_drop"],
        "the receiver can dedupe the retry on the event id"
    );
}

#[tokio::test]
async fn a_retry_after_counts_even_when_the_body_then_breaks() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::DropMidBody(503, Some("600"))]).await;
    let sender = sender_for(&clock, &rx);
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, job).await;
    assert!(matches!(
        rec.attempts[0].result,
        AttemptResult::Error {
            kind: AttemptErrorKind::Body,
            ..
        }
    ));
    assert_eq!(
        rec.state,
        JobState::Scheduled {
            due_at: T0 + S * 600
        },
        "the receiver asked for 10 minutes, longer than the schedule's 5 s"
    );
}

#[tokio::test]
async fn secrets_in_the_url_reach_neither_attempt_messages_nor_debug_output() {
    let clock = test_clock();
    let url = format!(
        "http://user:hunter2@127.0.0.1:{}/hooks?token=s3cret",
        closed_port()
    );
    let b = builder(&clock).endpoint(endpoint("ep", &url));
    let printed = format!("{b:?}");
    assert!(
        !printed.contains("hunter2") && !printed.contains("s3cret"),
        "{printed}"
    );
    let sender = b.build().unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, job).await;
    let AttemptResult::Error { kind, message } = &rec.attempts[0].result else {
        panic!("{:?}", rec.attempts[0])
    };
    assert_eq!(*kind, AttemptErrorKind::Connect);
    assert!(
        !message.contains("hunter2") && !message.contains("s3cret") && !message.contains("user"),
        "{message}"
    );
}
