//! The SSRF guard: private, loopback and link-local targets are refused unless private networks are allowed.

mod common;

use std::time::Duration;

use common::*;
use hookguard_sender::{
    AttemptErrorKind, ConfigError, Endpoint, Event, MemoryQueue, Sender, TestClock,
};

#[test]
fn literal_private_addresses_are_refused_at_build_time() {
    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://10.0.0.7/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9000/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "https://192.168.1.10/",
    ] {
        let err = Sender::builder(MemoryQueue::new())
            .endpoint(Endpoint::new("ep", url, KEY))
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::ForbiddenTarget { ref endpoint, .. } if endpoint == "ep"),
            "{url}: {err}"
        );
    }
    let ok = Sender::builder(MemoryQueue::new())
        .endpoint(Endpoint::new("ep", "http://127.0.0.1:8080/hooks", KEY))
        .allow_private_networks()
        .build();
    assert!(ok.is_ok(), "allowed when opted in");
    let public = Sender::builder(MemoryQueue::new())
        .endpoint(Endpoint::new("ep", "https://93.184.216.34/", KEY))
        .build();
    assert!(public.is_ok(), "public addresses are fine");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
    let clock = TestClock::new(T0);
    let rx = Receiver::start(&clock, []).await;
    let url = format!("http://localhost:{}/hooks", rx.addr.port());
    let sender = Sender::builder(MemoryQueue::new())
        .clock(clock.clone())
        .endpoint(Endpoint::new("ep", url, KEY).with_timeout(Duration::from_secs(2)))
        .build()
        .expect("a name is checked when it is resolved");
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();
    let rec = record(&sender, job).await;
    assert_eq!(
        rec.attempts[0].result.error_kind(),
        Some(AttemptErrorKind::Blocked),
        "{:?}",
        rec.attempts[0]
    );
    assert_eq!(
        rx.count(),
        0,
        "the request never reached the loopback receiver"
    );
    assert_eq!(
        rec.state,
        hookguard_sender::JobState::Dead {
            at: T0,
            reason: hookguard_sender::DeadLetterReason::BlockedTarget
        },
        "a refused target is dead-lettered at once, not retried for 75 h"
    );
    assert_eq!(
        sender.breaker_state("ep"),
        Some(hookguard_sender::BreakerState::Closed { failures: 0 }),
        "and is no breaker failure"
    );
}

#[test]
fn invalid_configuration_is_a_typed_error() {
    let build = |ep: Endpoint| {
        Sender::builder(MemoryQueue::new())
            .allow_private_networks()
            .endpoint(ep)
            .build()
    };
    let url = "http://127.0.0.1:1/";
    assert!(matches!(
        build(Endpoint::new("ep", "ftp://example.com/", KEY)),
        Err(ConfigError::InvalidUrl { .. })
    ));
    assert!(matches!(
        build(Endpoint::new("ep", "not a url", KEY)),
        Err(ConfigError::InvalidUrl { .. })
    ));
    assert!(matches!(
        build(Endpoint::new("ep", url, "whsec_short")),
        Err(ConfigError::Key { .. })
    ));
    assert!(matches!(
        build(Endpoint::new("", url, KEY)),
        Err(ConfigError::EmptyEndpointId)
    ));
    let mut no_keys = Endpoint::new("ep", url, KEY);
    no_keys.keys.clear();
    assert!(matches!(build(no_keys), Err(ConfigError::NoKeys { .. })));
    assert!(matches!(
        build(Endpoint::new("ep", url, KEY).with_max_in_flight(0)),
        Err(ConfigError::Zero(_))
    ));
    let bad_rate = Endpoint::new("ep", url, KEY)
        .with_rate_limit(hookguard_sender::RateLimit::new(f64::NAN, 1));
    assert!(matches!(
        build(bad_rate),
        Err(ConfigError::InvalidRateLimit { .. })
    ));
    let dup = Sender::builder(MemoryQueue::new())
        .allow_private_networks()
        .endpoint(Endpoint::new("ep", url, KEY))
        .endpoint(Endpoint::new("ep", url, KEY))
        .build();
    assert!(matches!(dup, Err(ConfigError::DuplicateEndpoint(id)) if id == "ep"));
}

#[test]
fn no_endpoint_may_hold_every_worker_and_no_interval_may_be_zero() {
    let url = "http://127.0.0.1:1/";
    let two = |busy: Endpoint| {
        Sender::builder(MemoryQueue::new())
            .allow_private_networks()
            .workers(4)
            .endpoint(busy)
            .endpoint(Endpoint::new("other", url, KEY))
            .build()
    };
    let err = two(Endpoint::new("busy", url, KEY).with_max_in_flight(4)).unwrap_err();
    assert!(
        matches!(err, ConfigError::MaxInFlightNotBelowWorkers { ref endpoint, max_in_flight: 4, workers: 4 }
            if endpoint == "busy"),
        "{err}"
    );
    assert!(two(Endpoint::new("busy", url, KEY).with_max_in_flight(3)).is_ok());
    // Alone, an endpoint starves nobody: it may use every worker.
    let alone = Sender::builder(MemoryQueue::new())
        .allow_private_networks()
        .workers(4)
        .endpoint(Endpoint::new("busy", url, KEY).with_max_in_flight(8))
        .build();
    assert!(alone.is_ok());

    let zero = |b: hookguard_sender::SenderBuilder<MemoryQueue>| {
        b.allow_private_networks()
            .endpoint(Endpoint::new("ep", url, KEY))
            .build()
    };
    let b = || Sender::builder(MemoryQueue::new());
    for (built, name) in [
        (zero(b().poll_interval(Duration::ZERO)), "poll_interval"),
        (zero(b().reap_interval(Duration::ZERO)), "reap_interval"),
        (zero(b().defer_delay(Duration::ZERO)), "defer_delay"),
    ] {
        assert!(
            matches!(built, Err(ConfigError::Zero(n)) if n == name),
            "{name}"
        );
    }
}

#[test]
fn the_lease_must_outlast_the_longest_timeout_plus_a_margin() {
    let slow =
        Endpoint::new("slow", "http://127.0.0.1:1/", KEY).with_timeout(Duration::from_secs(55));
    let err = Sender::builder(MemoryQueue::new())
        .allow_private_networks()
        .endpoint(slow.clone())
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::LeaseTooShort { lease, required }
            if lease == Duration::from_secs(60) && required == Duration::from_secs(60)),
        "{err}"
    );
    let ok = Sender::builder(MemoryQueue::new())
        .allow_private_networks()
        .endpoint(slow)
        .lease(Duration::from_secs(61))
        .build();
    assert!(ok.is_ok());
}
