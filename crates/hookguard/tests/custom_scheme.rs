//! `Scheme::custom`: describing other HMAC-SHA256 providers, checked by rebuilding GitHub's and Slack's schemes
//! from the builder and verifying their published examples, plus a timestamped base64 scheme end to end.

mod common;

use std::time::Duration;

use hookguard::{Encoding, Scheme, SchemeError, VerifyError};
use http::HeaderName;

#[test]
fn a_custom_scheme_verifies_githubs_published_example() {
    let scheme = Scheme::custom("github-again")
        .signature_header("X-Hub-Signature-256")
        .prefix("sha256=")
        .encoding(Encoding::Hex)
        .build()
        .expect("scheme");
    assert!(!scheme.has_timestamp());
    let headers = common::headers(&[(
        "x-hub-signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    let verified = common::verifier(scheme, &["It's a Secret to Everybody"], 0)
        .verify(&headers, b"Hello, World!")
        .expect("GitHub's example");
    assert_eq!(verified.scheme(), "github-again");
    assert_eq!(verified.id(), None);
}

#[test]
fn a_custom_scheme_verifies_slacks_published_example() {
    let scheme = Scheme::custom("slack-again")
        .signature_header("x-slack-signature")
        .prefix("v0=")
        .timestamp_header("x-slack-request-timestamp")
        .signed_content("v0:{timestamp}:{body}")
        .build()
        .expect("scheme");
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V\
                &channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=\
                &response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN\
                &trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let headers = common::headers(&[
        ("x-slack-request-timestamp", "1531420618"),
        (
            "x-slack-signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ),
    ]);
    let verifier = common::verifier(
        scheme.clone(),
        &["8f742231b10e8888abcd99yyyzzz85a5"],
        1_531_420_618,
    );
    assert_eq!(
        verifier
            .verify(&headers, body.as_bytes())
            .map(|v| v.timestamp()),
        Ok(Some(1_531_420_618))
    );
    // The preset and the custom description produce the same signature.
    let preset = common::signer(Scheme::slack(), &["8f742231b10e8888abcd99yyyzzz85a5"])
        .sign("", 1_531_420_618, body.as_bytes())
        .expect("sign");
    assert_eq!(preset, headers);
    let late = common::verifier(
        scheme,
        &["8f742231b10e8888abcd99yyyzzz85a5"],
        1_531_420_618 + 301,
    );
    assert_eq!(
        late.verify(&headers, body.as_bytes()),
        Err(VerifyError::TimestampTooOld)
    );
}

#[test]
fn a_timestamped_base64_scheme_round_trips() {
    let scheme = Scheme::custom("acme")
        .signature_header("x-acme-signature")
        .prefix("hmac-sha256 ")
        .encoding(Encoding::Base64)
        .timestamp_header("x-acme-timestamp")
        .id_header("x-acme-delivery")
        .signed_content("{id}|{timestamp}|{payload}")
        .build()
        .expect("scheme");
    let secret = "acme-signing-secret-000";
    let headers = common::signer(scheme.clone(), &[secret])
        .sign("dlv_42", 1_700_000_000, b"payload")
        .expect("sign");
    assert_eq!(common::value(&headers, "x-acme-delivery"), "dlv_42");
    assert_eq!(common::value(&headers, "x-acme-timestamp"), "1700000000");
    let signature = common::value(&headers, "x-acme-signature");
    assert!(
        signature.starts_with("hmac-sha256 ") && signature.ends_with('='),
        "{signature}"
    );

    let verifier = common::verifier(scheme.clone(), &[secret], 1_700_000_005)
        .tolerance(Duration::from_secs(5));
    let verified = verifier.verify(&headers, b"payload").expect("verify");
    assert_eq!(
        (verified.id(), verified.timestamp(), verified.scheme()),
        (Some("dlv_42"), Some(1_700_000_000), "acme")
    );
    assert_eq!(
        verifier.verify(&headers, b"payload!"),
        Err(VerifyError::SignatureMismatch)
    );
    // The id is signed: changing it breaks the signature.
    let other_id = common::with_header(&headers, "x-acme-delivery", "dlv_43");
    assert_eq!(
        verifier.verify(&other_id, b"payload"),
        Err(VerifyError::SignatureMismatch)
    );
    let mut no_id = headers.clone();
    no_id.remove("x-acme-delivery");
    assert_eq!(
        verifier.verify(&no_id, b"payload"),
        Err(VerifyError::MissingHeader(HeaderName::from_static(
            "x-acme-delivery"
        )))
    );
    let late = common::verifier(scheme, &[secret], 1_700_000_006).tolerance(Duration::from_secs(5));
    assert_eq!(
        late.verify(&headers, b"payload"),
        Err(VerifyError::TimestampTooOld)
    );
}

#[test]
fn invalid_descriptions_are_refused() {
    assert_eq!(
        Scheme::custom("x").build().unwrap_err(),
        SchemeError::MissingSignatureHeader
    );
    let base = || Scheme::custom("x").signature_header("x-sig");
    assert_eq!(
        base().signed_content("{ts}.{payload}").build().unwrap_err(),
        SchemeError::UnknownPlaceholder("ts".into())
    );
    assert_eq!(
        base().signed_content("{payload").build().unwrap_err(),
        SchemeError::UnclosedPlaceholder
    );
    assert_eq!(
        base().signed_content("static").build().unwrap_err(),
        SchemeError::PayloadNotSigned
    );
    assert_eq!(
        base()
            .signed_content("{timestamp}.{payload}")
            .build()
            .unwrap_err(),
        SchemeError::PlaceholderWithoutHeader("timestamp")
    );
    assert_eq!(
        base().prefix("sig\n").build().unwrap_err(),
        SchemeError::InvalidPrefix
    );
    assert_eq!(
        base()
            .timestamp_header("x ts")
            .signed_content("{timestamp}.{payload}")
            .build()
            .unwrap_err(),
        SchemeError::InvalidHeaderName("x ts".into())
    );
    assert_eq!(
        base()
            .timestamp_header("x-acme-timestamp")
            .build()
            .unwrap_err(),
        SchemeError::TimestampNotSigned,
        "a timestamp nobody signed cannot prove freshness"
    );
}
