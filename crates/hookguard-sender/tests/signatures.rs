//! Every delivery verifies at the receiver with `hookguard::Verifier`: key rotation and other schemes.

mod common;

use common::*;
use hookguard::{Scheme, Verifier};
use hookguard_sender::{Endpoint, Event, JobState};

#[tokio::test]
async fn during_rotation_both_keys_sign_so_old_and_new_receivers_verify() {
    let clock = test_clock();
    let core_clock = clock.clone();
    let old_only = Verifier::new(Scheme::standard_webhooks(), KEY)
        .unwrap()
        .with_clock(core_clock.clone());
    let new_only = Verifier::new(Scheme::standard_webhooks(), KEY2)
        .unwrap()
        .with_clock(core_clock.clone());
    let wrong = Verifier::new(
        Scheme::standard_webhooks(),
        "whsec_dGhpcyBpcyBub3QgdGhlIGtleQ==",
    )
    .unwrap()
    .with_clock(core_clock);
    let a =
        Receiver::start_with("old", old_only, [], Reply::status(200), EventLog::default()).await;
    let b =
        Receiver::start_with("new", new_only, [], Reply::status(200), EventLog::default()).await;
    let c = Receiver::start_with("wrong", wrong, [], Reply::status(200), EventLog::default()).await;
    let sender = builder(&clock)
        .endpoint(Endpoint::new("a", a.url(), KEY).with_key(KEY2))
        .endpoint(Endpoint::new("b", b.url(), KEY).with_key(KEY2))
        .endpoint(Endpoint::new("c", c.url(), KEY).with_key(KEY2))
        .build()
        .unwrap();
    let published = sender.publish("t", r#"{"rotating":true}"#).await.unwrap();
    assert_eq!(published.len(), 3);
    sender.process_due(10).await.unwrap();
    assert_eq!(a.requests()[0].verified, Ok(0));
    assert_eq!(b.requests()[0].verified, Ok(0));
    assert_eq!(
        c.requests()[0].verified,
        Err("signature-mismatch"),
        "the check is real"
    );
    assert_eq!(
        a.requests()[0]
            .header("webhook-signature")
            .split(' ')
            .count(),
        2,
        "one signature per key"
    );
}

#[tokio::test]
async fn other_schemes_sign_what_their_verifiers_expect() {
    let clock = test_clock();
    let secret = "a-plain-shared-secret-of-some-length";
    for scheme in [
        Scheme::github(),
        Scheme::stripe(),
        Scheme::shopify(),
        Scheme::slack(),
    ] {
        let v = Verifier::new(scheme.clone(), secret)
            .unwrap()
            .with_clock(clock.clone());
        let rx = Receiver::start_with(
            scheme.name(),
            v,
            [],
            Reply::status(204),
            EventLog::default(),
        )
        .await;
        let sender = builder(&clock)
            .endpoint(Endpoint::new("ep", rx.url(), secret).with_scheme(scheme.clone()))
            .build()
            .unwrap();
        let job = sender
            .send("ep", Event::new("t", r#"{"x":1}"#))
            .await
            .unwrap();
        sender.process_due(1).await.unwrap();
        assert_eq!(rx.requests()[0].verified, Ok(0), "{}", scheme.name());
        assert!(matches!(
            record(&sender, job).await.state,
            JobState::Delivered { .. }
        ));
    }
}
