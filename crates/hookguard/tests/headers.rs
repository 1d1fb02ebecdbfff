//! Reading the headers: missing and duplicated headers, malformed and unknown-version entries (skipped), the
//! 16-entry limit, Svix's `svix-*` names, and the small liberties each scheme allows (case, padding, spaces).

mod common;

use hookguard::{Scheme, VerifyError};
use http::{HeaderMap, HeaderName, HeaderValue};

const NOW: i64 = 1_700_000_000;
const PAYLOAD: &[u8] = br#"{"event":"ping"}"#;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A well-formed `v1` entry that matches nothing.
const WRONG_V1: &str = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

fn malformed(name: &'static str) -> Result<(), VerifyError> {
    Err(VerifyError::MalformedHeader(HeaderName::from_static(name)))
}

fn missing(name: &'static str) -> Result<(), VerifyError> {
    Err(VerifyError::MissingHeader(HeaderName::from_static(name)))
}

fn standard() -> (HeaderMap, String) {
    let headers = common::signer(Scheme::standard_webhooks(), &[SECRET])
        .sign("msg_hdr", NOW, PAYLOAD)
        .expect("sign");
    let valid = common::value(&headers, "webhook-signature").to_owned();
    (headers, valid)
}

fn verify(scheme: Scheme, secret: &str, headers: &HeaderMap) -> Result<(), VerifyError> {
    common::verifier(scheme, &[secret], NOW)
        .verify(headers, PAYLOAD)
        .map(|_| ())
}

fn verify_sw(headers: &HeaderMap) -> Result<(), VerifyError> {
    verify(Scheme::standard_webhooks(), SECRET, headers)
}

#[test]
fn each_missing_header_is_named() {
    for (scheme, secret) in common::presets() {
        let headers = common::signer(scheme.clone(), &[secret])
            .sign("msg_hdr", NOW, PAYLOAD)
            .expect("sign");
        // Every header the signer writes except an informational id is required.
        for name in headers.keys() {
            let informational_id =
                matches!(name.as_str(), "x-github-delivery" | "x-shopify-event-id");
            let mut without = headers.clone();
            without.remove(name);
            let result = verify(scheme.clone(), secret, &without);
            if informational_id {
                assert_eq!(result, Ok(()), "{}: {name}", scheme.name());
            } else {
                assert_eq!(
                    result,
                    Err(VerifyError::MissingHeader(name.clone())),
                    "{}: {name}",
                    scheme.name()
                );
            }
        }
        assert!(
            verify(scheme.clone(), secret, &HeaderMap::new())
                .is_err_and(|e| e.kind() == "missing-header")
        );
    }
}

#[test]
fn a_header_sent_twice_is_malformed() {
    for (scheme, secret) in common::presets() {
        let headers = common::signer(scheme.clone(), &[secret])
            .sign("msg_hdr", NOW, PAYLOAD)
            .expect("sign");
        for (name, value) in &headers {
            let mut twice = headers.clone();
            twice.append(name.clone(), value.clone());
            assert_eq!(
                verify(scheme.clone(), secret, &twice),
                Err(VerifyError::MalformedHeader(name.clone())),
                "{}: {name}",
                scheme.name()
            );
        }
    }
}

#[test]
fn malformed_and_unknown_entries_are_skipped() {
    let (headers, valid) = standard();
    for noise in [
        "v1",
        "v1,",
        "v1,!!!!",
        "v1,AAAA",
        ",abc",
        "garbage",
        "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        "V1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        "v1a,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=AAAA",
    ] {
        for value in [
            format!("{noise} {valid}"),
            format!("{valid} {noise}"),
            format!("{noise}  {valid}  {noise}"),
        ] {
            let request = common::with_header(&headers, "webhook-signature", &value);
            assert_eq!(verify_sw(&request), Ok(()), "{value:?}");
        }
        // Alone, an unusable entry makes the header malformed; a usable one that matches nothing is a mismatch.
        let alone = common::with_header(&headers, "webhook-signature", noise);
        assert_eq!(
            verify_sw(&alone),
            malformed("webhook-signature"),
            "{noise:?}"
        );
    }
    let wrong = common::with_header(&headers, "webhook-signature", WRONG_V1);
    assert_eq!(verify_sw(&wrong), Err(VerifyError::SignatureMismatch));
    for empty in ["", " ", "   "] {
        let request = common::with_header(&headers, "webhook-signature", empty);
        assert_eq!(
            verify_sw(&request),
            malformed("webhook-signature"),
            "{empty:?}"
        );
    }
}

#[test]
fn at_most_sixteen_entries_are_examined() {
    let (headers, valid) = standard();
    let fifteen_wrong = vec![WRONG_V1; 15].join(" ");
    let sixteenth = common::with_header(
        &headers,
        "webhook-signature",
        &format!("{fifteen_wrong} {valid}"),
    );
    assert_eq!(verify_sw(&sixteenth), Ok(()));

    let sixteen_wrong = vec![WRONG_V1; 16].join(" ");
    let seventeenth = common::with_header(
        &headers,
        "webhook-signature",
        &format!("{sixteen_wrong} {valid}"),
    );
    assert_eq!(verify_sw(&seventeenth), Err(VerifyError::SignatureMismatch));

    // Unusable entries count towards the limit too, so a flood of junk cannot buy unbounded work.
    let sixteen_junk = vec!["v9,x"; 16].join(" ");
    let after_junk = common::with_header(
        &headers,
        "webhook-signature",
        &format!("{sixteen_junk} {valid}"),
    );
    assert_eq!(verify_sw(&after_junk), malformed("webhook-signature"));

    let thousand = vec![WRONG_V1; 1000].join(" ");
    let flood = common::with_header(
        &headers,
        "webhook-signature",
        &format!("{thousand} {valid}"),
    );
    assert_eq!(verify_sw(&flood), Err(VerifyError::SignatureMismatch));
}

#[test]
fn stripe_examines_a_bounded_number_of_entries() {
    let secret = "whsec_test_secret";
    let headers = common::signer(Scheme::stripe(), &[secret])
        .sign("", NOW, PAYLOAD)
        .expect("sign");
    let value = common::value(&headers, "stripe-signature");
    let (t, v1) = value.split_once(',').expect("t=…,v1=…");
    let wrong = format!("v1={}", "ab".repeat(32));
    let early = format!("{t},{},{v1}", vec![wrong.as_str(); 15].join(","));
    assert_eq!(
        verify(
            Scheme::stripe(),
            secret,
            &common::headers(&[("stripe-signature", &early)])
        ),
        Ok(())
    );
    let late = format!("{t},{},{v1}", vec![wrong.as_str(); 100].join(","));
    assert_eq!(
        verify(
            Scheme::stripe(),
            secret,
            &common::headers(&[("stripe-signature", &late)])
        ),
        Err(VerifyError::SignatureMismatch)
    );
    // Spaces after commas, unknown keys and v0 entries are tolerated; a second `t` is not.
    let spaced = format!("{t}, {v1}, v0={}, x=1", "00".repeat(32));
    assert_eq!(
        verify(
            Scheme::stripe(),
            secret,
            &common::headers(&[("stripe-signature", &spaced)])
        ),
        Ok(())
    );
    let two_t = format!("{t},{v1},t={NOW}");
    assert_eq!(
        verify(
            Scheme::stripe(),
            secret,
            &common::headers(&[("stripe-signature", &two_t)])
        ),
        malformed("stripe-signature")
    );
}

#[test]
fn svix_header_names_are_accepted() {
    let (headers, _) = standard();
    let mut svix = HeaderMap::new();
    for (name, value) in &headers {
        let renamed = name.as_str().replace("webhook-", "svix-");
        svix.insert(
            HeaderName::from_bytes(renamed.as_bytes()).expect("name"),
            value.clone(),
        );
    }
    let verifier = common::verifier(Scheme::standard_webhooks(), &[SECRET], NOW);
    let verified = verifier.verify(&svix, PAYLOAD).expect("svix names");
    assert_eq!(verified.id(), Some("msg_hdr"));
    assert_eq!(verified.timestamp(), Some(NOW));

    // With svix-* names the svix-* id and timestamp are required.
    let mut no_id = svix.clone();
    no_id.remove("svix-id");
    assert_eq!(verify_sw(&no_id), missing("svix-id"));
    let mut no_ts = svix.clone();
    no_ts.remove("svix-timestamp");
    assert_eq!(verify_sw(&no_ts), missing("svix-timestamp"));

    // When both sets are present the webhook-* names win.
    let mut both = svix;
    both.extend(headers);
    both.insert("svix-signature", HeaderValue::from_static(WRONG_V1));
    assert_eq!(verify_sw(&both), Ok(()));
}

#[test]
fn ids_must_be_visible_ascii_and_non_empty() {
    let (headers, _) = standard();
    let mut request = headers.clone();
    request.insert(
        "webhook-id",
        HeaderValue::from_bytes(b"msg_\xe2\x9c\x93").expect("obs-text"),
    );
    assert_eq!(verify_sw(&request), malformed("webhook-id"));
    let empty = common::with_header(&headers, "webhook-id", "");
    assert_eq!(verify_sw(&empty), malformed("webhook-id"));
    let mut signature = headers;
    signature.insert(
        "webhook-signature",
        HeaderValue::from_bytes(b"v1,\xff\xfe").expect("obs-text"),
    );
    assert_eq!(verify_sw(&signature), malformed("webhook-signature"));
}

#[test]
fn verified_borrows_the_id_and_can_be_detached() {
    let (headers, _) = standard();
    let verifier = common::verifier(Scheme::standard_webhooks(), &[SECRET], NOW);
    let owned = {
        let request = headers;
        let verified = verifier.verify(&request, PAYLOAD).expect("verify");
        verified.into_owned()
    };
    assert_eq!(owned.id(), Some("msg_hdr"));
    assert_eq!(owned.scheme(), "standard-webhooks");
}

#[test]
fn hex_may_be_upper_case_and_base64_unpadded() {
    let secret = "It's a Secret to Everybody";
    let github = common::headers(&[(
        "X-Hub-Signature-256",
        "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",
    )]);
    let verifier = common::verifier(Scheme::github(), &[secret], NOW);
    assert!(verifier.verify(&github, b"Hello, World!").is_ok());
    let prefix_case = common::headers(&[(
        "x-hub-signature-256",
        "SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    assert_eq!(
        verifier.verify(&prefix_case, b"Hello, World!").map(|_| ()),
        malformed("x-hub-signature-256")
    );

    let shopify_secret = "hush-shopify-client-secret";
    let signed = common::signer(Scheme::shopify(), &[shopify_secret])
        .sign("evt", 0, PAYLOAD)
        .expect("sign");
    let padded = common::value(&signed, "x-shopify-hmac-sha256");
    assert!(padded.ends_with('='));
    let unpadded = common::headers(&[("x-shopify-hmac-sha256", padded.trim_end_matches('='))]);
    assert_eq!(verify(Scheme::shopify(), shopify_secret, &unpadded), Ok(()));
    let spaced = common::headers(&[("x-shopify-hmac-sha256", format!(" {padded} "))]);
    assert_eq!(verify(Scheme::shopify(), shopify_secret, &spaced), Ok(()));
}
