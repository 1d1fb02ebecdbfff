//! The metric names and labels are the contract with the Grafana dashboard: check them in a real exposition.

mod common;

use std::time::Duration;

use common::*;
use hookguard_sender::Event;
use hookguard_sender::metrics::{DELIVERY_SECONDS, DELIVERY_SECONDS_BUCKETS};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// The value of the sample named `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|f| l.contains(f)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn metric_names_and_labels_follow_the_design() {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DELIVERY_SECONDS.into()),
            DELIVERY_SECONDS_BUCKETS,
        )
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let clock = test_clock();
            let rx = Receiver::start(&clock, [Reply::status(503), Reply::status(404)]).await;
            let sender = sender_for(&clock, &rx);
            sender
                .send("ep", Event::new("t", "{}").with_id("a"))
                .await
                .unwrap();
            sender.process_due(1).await.unwrap(); // a: 503 → retry
            sender
                .send("ep", Event::new("t", "{}").with_id("b"))
                .await
                .unwrap();
            sender.process_due(1).await.unwrap(); // b: 404 → dead letter
            clock.advance(Duration::from_secs(5));
            sender.process_due(1).await.unwrap(); // a: 200 → delivered
            sender.reap().await.unwrap();
        });
    });
    let text = handle.render();
    let ep = r#"endpoint="ep""#;
    let attempts = "hookguard_delivery_attempts_total";
    assert_eq!(
        sample(&text, attempts, &[ep, r#"result="retry_status""#]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, attempts, &[ep, r#"result="permanent""#]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, attempts, &[ep, r#"result="success""#]),
        Some(1.0)
    );
    let deliveries = "hookguard_deliveries_total";
    assert_eq!(
        sample(&text, deliveries, &[ep, r#"outcome="delivered""#]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, deliveries, &[ep, r#"outcome="dead_lettered""#]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "hookguard_delivery_seconds_count", &[ep]),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "hookguard_delivery_seconds_bucket",
            &[ep, r#"le="30""#]
        ),
        Some(3.0),
        "explicit buckets"
    );
    assert_eq!(
        sample(&text, "hookguard_queue_jobs", &[r#"state="due""#]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "hookguard_queue_jobs", &[r#"state="scheduled""#]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "hookguard_queue_jobs", &[r#"state="in_flight""#]),
        Some(0.0)
    );
    assert_eq!(sample(&text, "hookguard_dead_letters", &[]), Some(1.0));
    assert_eq!(sample(&text, "hookguard_breaker_open", &[ep]), Some(0.0));
}
