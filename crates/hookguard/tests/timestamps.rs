//! The tolerance window: stale and future timestamps are refused, the boundaries are inclusive to the second,
//! the window is configurable, and only `with_insecure_skip_timestamp_check` turns it off.

mod common;

use std::time::Duration;

use hookguard::{Clock, DEFAULT_TOLERANCE, FixedClock, Scheme, SystemClock, Verifier, VerifyError};
use http::HeaderName;

const SIGNED_AT: i64 = 1_700_000_000;
const PAYLOAD: &[u8] = br#"{"ok":true}"#;

/// The preset schemes that carry a timestamp.
fn timestamped() -> Vec<(Scheme, &'static str)> {
    common::presets()
        .into_iter()
        .filter(|(s, _)| s.has_timestamp())
        .collect()
}

fn check(
    scheme: &Scheme,
    secret: &str,
    now: i64,
    tolerance: Option<u64>,
) -> Result<(), VerifyError> {
    let headers = common::signer(scheme.clone(), &[secret])
        .sign("msg_ts", SIGNED_AT, PAYLOAD)
        .expect("sign");
    let mut verifier = common::verifier(scheme.clone(), &[secret], now);
    if let Some(secs) = tolerance {
        verifier = verifier.tolerance(Duration::from_secs(secs));
    }
    verifier.verify(&headers, PAYLOAD).map(|v| {
        assert_eq!(v.timestamp(), Some(SIGNED_AT));
    })
}

#[test]
fn the_three_timestamped_presets_are_standard_webhooks_stripe_and_slack() {
    let names: Vec<_> = timestamped().iter().map(|(s, _)| s.name()).collect();
    assert_eq!(names, ["standard-webhooks", "stripe", "slack"]);
    assert_eq!(DEFAULT_TOLERANCE, Duration::from_secs(300));
}

#[test]
fn default_tolerance_boundaries_are_exact() {
    for (scheme, secret) in timestamped() {
        let name = scheme.name();
        assert_eq!(check(&scheme, secret, SIGNED_AT, None), Ok(()), "{name}");
        assert_eq!(
            check(&scheme, secret, SIGNED_AT + 300, None),
            Ok(()),
            "{name}"
        );
        assert_eq!(
            check(&scheme, secret, SIGNED_AT - 300, None),
            Ok(()),
            "{name}"
        );
        assert_eq!(
            check(&scheme, secret, SIGNED_AT + 301, None),
            Err(VerifyError::TimestampTooOld),
            "{name}"
        );
        assert_eq!(
            check(&scheme, secret, SIGNED_AT - 301, None),
            Err(VerifyError::TimestampTooNew),
            "{name}"
        );
        assert_eq!(
            check(&scheme, secret, SIGNED_AT + 86_400 * 365, None),
            Err(VerifyError::TimestampTooOld),
            "{name}"
        );
    }
}

#[test]
fn a_configured_tolerance_moves_the_boundaries() {
    for (scheme, secret) in timestamped() {
        let name = scheme.name();
        assert_eq!(
            check(&scheme, secret, SIGNED_AT + 10, Some(10)),
            Ok(()),
            "{name}"
        );
        assert_eq!(
            check(&scheme, secret, SIGNED_AT - 10, Some(10)),
            Ok(()),
            "{name}"
        );
        assert_eq!(
            check(&scheme, secret, SIGNED_AT + 11, Some(10)),
            Err(VerifyError::TimestampTooOld),
            "{name}"
        );
        assert_eq!(
            check(&scheme, secret, SIGNED_AT - 11, Some(10)),
            Err(VerifyError::TimestampTooNew),
            "{name}"
        );
        // A zero tolerance accepts only the very second; a huge one does not overflow.
        assert_eq!(check(&scheme, secret, SIGNED_AT, Some(0)), Ok(()), "{name}");
        assert_eq!(
            check(&scheme, secret, SIGNED_AT + 1, Some(0)),
            Err(VerifyError::TimestampTooOld),
            "{name}"
        );
        assert_eq!(
            check(&scheme, secret, i64::MAX, Some(u64::MAX)),
            Ok(()),
            "{name}"
        );
        assert_eq!(check(&scheme, secret, 0, Some(u64::MAX)), Ok(()), "{name}");
    }
}

#[test]
fn skipping_the_check_accepts_any_timestamp_but_still_checks_the_signature() {
    for (scheme, secret) in timestamped() {
        let headers = common::signer(scheme.clone(), &[secret])
            .sign("msg_ts", 0, PAYLOAD)
            .expect("sign");
        let verifier = common::verifier(scheme.clone(), &[secret], SIGNED_AT)
            .with_insecure_skip_timestamp_check();
        assert_eq!(
            verifier.verify(&headers, PAYLOAD).map(|v| v.timestamp()),
            Ok(Some(0))
        );
        assert_eq!(
            verifier.verify(&headers, b"{}"),
            Err(VerifyError::SignatureMismatch)
        );
    }
}

#[test]
fn schemes_without_a_timestamp_ignore_the_clock() {
    for (scheme, secret) in common::presets()
        .into_iter()
        .filter(|(s, _)| !s.has_timestamp())
    {
        let headers = common::signer(scheme.clone(), &[secret])
            .sign("delivery", SIGNED_AT, PAYLOAD)
            .expect("sign");
        for now in [i64::MIN, 0, SIGNED_AT + 10_000_000, i64::MAX] {
            let verifier =
                common::verifier(scheme.clone(), &[secret], now).tolerance(Duration::ZERO);
            let verified = verifier.verify(&headers, PAYLOAD);
            assert_eq!(
                verified.map(|v| v.timestamp()),
                Ok(None),
                "{}",
                scheme.name()
            );
        }
    }
}

#[test]
fn a_stale_timestamp_is_reported_before_a_bad_signature() {
    // The timestamp is checked first, so a replayed request is reported as such whatever its signature.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let headers = common::signer(Scheme::standard_webhooks(), &[secret])
        .sign("msg_ts", SIGNED_AT, PAYLOAD)
        .expect("sign");
    let verifier = common::verifier(Scheme::standard_webhooks(), &[secret], SIGNED_AT + 3600);
    assert_eq!(
        verifier.verify(&headers, b"other"),
        Err(VerifyError::TimestampTooOld)
    );
}

#[test]
fn timestamps_that_are_not_plain_integers_are_malformed() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let headers = common::signer(Scheme::standard_webhooks(), &[secret])
        .sign("msg_ts", SIGNED_AT, PAYLOAD)
        .expect("sign");
    let verifier = common::verifier(Scheme::standard_webhooks(), &[secret], SIGNED_AT);
    for bad in [
        "",
        "-1",
        "+1700000000",
        "1700000000.0",
        " 1700000000",
        "1e9",
        "1234567890123456789",
        "0x10",
    ] {
        let request = common::with_header(&headers, "webhook-timestamp", bad);
        assert_eq!(
            verifier.verify(&request, PAYLOAD),
            Err(VerifyError::MalformedHeader(HeaderName::from_static(
                "webhook-timestamp"
            ))),
            "{bad:?}"
        );
    }
    // Stripe's timestamp lives inside its signature header.
    let stripe = common::verifier(Scheme::stripe(), &["whsec_test_secret"], SIGNED_AT);
    let request =
        common::headers(&[("stripe-signature", format!("t=soon,v1={}", "ab".repeat(32)))]);
    assert_eq!(
        stripe.verify(&request, PAYLOAD),
        Err(VerifyError::MalformedHeader(HeaderName::from_static(
            "stripe-signature"
        )))
    );
}

#[test]
fn the_system_clock_is_the_default() {
    let now = SystemClock.now_unix();
    assert!(now > 1_700_000_000, "{now}");
    assert_eq!(FixedClock(5).now_unix(), 5);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let signer = common::signer(Scheme::standard_webhooks(), &[secret]);
    let verifier = Verifier::new(Scheme::standard_webhooks(), secret).expect("key");
    let fresh = signer.sign("msg_now", now, PAYLOAD).expect("sign");
    assert!(verifier.verify(&fresh, PAYLOAD).is_ok());
    let stale = signer.sign("msg_old", now - 3600, PAYLOAD).expect("sign");
    assert_eq!(
        verifier.verify(&stale, PAYLOAD),
        Err(VerifyError::TimestampTooOld)
    );
}
