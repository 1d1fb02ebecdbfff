//! The worker engine with a fake transport and paused time: lease heartbeats, a lost lease abandoned without
//! a trace, a poison job that panics its worker (supervised, then dead-lettered `lease-expired`), pause vs
//! disable, and the engine's metrics reading real, non-zero values.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use hookguard_sender::{
    BreakerState, DeadLetterReason, Endpoint, Event, JobState, MemoryQueue, Queue, Sender,
};
use metrics_exporter_prometheus::PrometheusBuilder;

const S: Duration = Duration::from_secs(1);

fn sender_with(
    clock: &TokioClock,
    transport: &FakeTransport,
) -> hookguard_sender::SenderBuilder<Counting<MemoryQueue>> {
    Sender::builder(Counting::new(MemoryQueue::new()))
        .clock(clock.clone())
        .transport(transport.clone())
        .lease(S * 30)
        .reap_interval(S)
        .workers(4)
        .batch(2)
        .endpoint(Endpoint::new("ep", "https://ep.example/hooks", KEY).with_max_in_flight(2))
        .endpoint(Endpoint::new("other", "https://other.example/hooks", KEY).with_max_in_flight(2))
}

/// The value of the sample named `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|f| l.contains(f)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Runs `f` on a paused current-thread runtime with a Prometheus recorder; returns the rendered metrics.
fn with_metrics(f: impl AsyncFnOnce()) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(f());
    });
    handle.render()
}

#[test]
fn a_heartbeat_keeps_a_slow_attempt_leased_and_a_lost_lease_is_abandoned_without_a_trace() {
    let text = with_metrics(async || {
        let clock = TokioClock::new();
        let transport = FakeTransport::new(&clock);
        transport.set("ep", Fake::Hang);
        let sender = sender_with(&clock, &transport).build().unwrap();
        let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
        let workers = sender.spawn();
        tokio::time::sleep(S * 25).await;
        let rec = sender.queue().get(job).await.unwrap().unwrap();
        let JobState::InFlight { until } = rec.state else {
            panic!("{:?}", rec.state)
        };
        assert!(
            until >= T0 + S * 50,
            "extended every lease/3 (10 s): {until}"
        );
        assert_eq!(sender.queue().extends.load(Ordering::Relaxed), 2);

        // Another worker takes the job over: the next heartbeat is refused.
        sender.queue().lose_leases.store(true, Ordering::Relaxed);
        tokio::time::sleep(S * 6).await;
        let rec = sender.queue().get(job).await.unwrap().unwrap();
        assert!(
            rec.attempts.is_empty(),
            "nothing recorded for the abandoned attempt"
        );
        assert!(
            matches!(rec.state, JobState::InFlight { .. }),
            "left to its new owner"
        );
        assert_eq!(sender.queue().concludes.load(Ordering::Relaxed), 0);
        assert_eq!(
            sender.breaker_state("ep"),
            Some(BreakerState::Closed { failures: 0 }),
            "the breaker is not touched"
        );
        workers.shutdown(S).await;
    });
    assert_eq!(
        sample(&text, "hookguard_leases_total", &[r#"result="extended""#]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "hookguard_leases_total", &[r#"result="lost""#]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "hookguard_delivery_attempts_total", &[]),
        None,
        "no attempt counted"
    );
}

#[test]
fn a_poison_job_restarts_its_worker_and_dead_letters_after_three_lapses() {
    let text = with_metrics(async || {
        let clock = TokioClock::new();
        let transport = FakeTransport::new(&clock);
        transport.set("ep", Fake::Panic);
        let sender = sender_with(&clock, &transport).build().unwrap();
        let poison = sender.send("ep", Event::new("t", "{}")).await.unwrap();
        let workers = sender.spawn();
        tokio::time::sleep(S * 120).await;
        let rec = sender.queue().get(poison).await.unwrap().unwrap();
        assert!(
            matches!(
                rec.state,
                JobState::Dead {
                    reason: DeadLetterReason::LeaseExpired,
                    ..
                }
            ),
            "{:?}",
            rec.state
        );
        assert!(rec.attempts.is_empty());
        assert_eq!(
            transport.sent_to("ep").len(),
            3,
            "three tries, three lapses"
        );

        // The engine is still running: another endpoint's job goes out.
        let fine = sender.send("other", Event::new("t", "{}")).await.unwrap();
        tokio::time::sleep(S).await;
        assert!(matches!(
            sender.queue().get(fine).await.unwrap().unwrap().state,
            JobState::Delivered { .. }
        ));
        workers.shutdown(S).await;
    });
    assert_eq!(
        sample(&text, "hookguard_worker_restarts_total", &[]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "hookguard_leases_total", &[r#"result="reaped""#]),
        Some(3.0)
    );
}

#[test]
fn engine_metrics_read_real_values() {
    let text = with_metrics(async || {
        let clock = TokioClock::new();
        let transport = FakeTransport::new(&clock);
        transport.set("ep", Fake::Status(503));
        let sender = sender_with(&clock, &transport)
            .circuit_breaker(2, S * 60)
            .build()
            .unwrap();
        for i in 0..2 {
            sender
                .send("ep", Event::new("t", "{}").with_id(format!("down_{i}")))
                .await
                .unwrap();
        }
        let workers = sender.spawn();
        tokio::time::sleep(S * 2).await;
        assert!(matches!(
            sender.breaker_state("ep"),
            Some(BreakerState::Open { .. })
        ));
        tokio::time::sleep(S * 2).await;
        workers.shutdown(S).await;
    });
    let ep = r#"endpoint="ep""#;
    assert_eq!(
        sample(&text, "hookguard_breaker_open", &[ep]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "hookguard_breaker_open", &[r#"endpoint="other""#]),
        Some(0.0),
        "a series for every endpoint from the start"
    );
    assert_eq!(
        sample(&text, "hookguard_queue_jobs", &[r#"state="scheduled""#]),
        Some(2.0),
        "both retries are scheduled"
    );
    assert_eq!(
        sample(
            &text,
            "hookguard_delivery_attempts_total",
            &[ep, r#"result="retry_status""#]
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn a_paused_endpoint_waits_and_a_disabled_one_dead_letters() {
    let clock = test_clock();
    let transport = FakeTransport::new(&TokioClock::new());
    let sender = builder(&clock)
        .transport(transport.clone())
        .endpoint(endpoint("ep", "https://ep.example/hooks"))
        .build()
        .unwrap();
    sender.pause("ep", T0 + S * 60).await.unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    assert_eq!(
        sender.process_due(10).await.unwrap(),
        0,
        "paused: not leased"
    );
    clock.advance(S * 30);
    assert_eq!(sender.process_due(10).await.unwrap(), 0);
    assert!(matches!(
        sender.queue().get(job).await.unwrap().unwrap().state,
        JobState::Scheduled { .. }
    ));
    clock.advance(S * 30);
    assert_eq!(sender.process_due(10).await.unwrap(), 1, "the pause ended");
    assert_eq!(transport.sent_to("ep").len(), 1);

    sender.disable("ep", "operator").await.unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(10).await.unwrap();
    let rec = sender.queue().get(job).await.unwrap().unwrap();
    assert_eq!(
        rec.state,
        JobState::Dead {
            at: T0 + S * 60,
            reason: DeadLetterReason::EndpointDisabled
        }
    );
    assert_eq!(transport.sent_to("ep").len(), 1, "no request");
    let state = sender.queue().endpoint_state("ep").await.unwrap();
    assert_eq!(
        (state.enabled, state.reason.as_deref()),
        (false, Some("operator"))
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_releases_hung_attempts_within_its_deadline() {
    let clock = TokioClock::new();
    let transport = FakeTransport::new(&clock);
    transport.set("ep", Fake::Hang);
    let sender = sender_with(&clock, &transport).build().unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    let workers = sender.spawn();
    tokio::time::sleep(S).await;
    assert_eq!(transport.sent_to("ep").len(), 1, "the attempt hangs");
    let started = tokio::time::Instant::now();
    workers.shutdown(S * 2).await;
    assert!(
        started.elapsed() <= S * 2 + S * 5,
        "grace plus the queue timeout at most"
    );
    let rec = sender.queue().get(job).await.unwrap().unwrap();
    assert!(
        matches!(rec.state, JobState::Scheduled { .. }),
        "released: {:?}",
        rec.state
    );
    assert!(rec.attempts.is_empty(), "no attempt spent");
}

#[tokio::test]
async fn jobs_older_than_max_age_dead_letter_expired() {
    let clock = test_clock();
    let transport = FakeTransport::new(&TokioClock::new());
    let sender = builder(&clock)
        .transport(transport.clone())
        .max_age(S * 3600)
        .endpoint(endpoint("ep", "https://ep.example/hooks"))
        .build()
        .unwrap();
    sender.pause("ep", T0 + S * 7200).await.unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    clock.advance(S * 3601);
    sender.reap().await.unwrap();
    let rec = sender.queue().get(job).await.unwrap().unwrap();
    assert!(
        matches!(
            rec.state,
            JobState::Dead {
                reason: DeadLetterReason::Expired,
                ..
            }
        ),
        "a pause cannot outlive max_age unnoticed: {:?}",
        rec.state
    );
    assert!(transport.sent_to("ep").is_empty());
}
