//! `Verifier::verify` on arbitrary headers and bodies, for every scheme: never panics, answers the same
//! twice, names a header that is really absent (missing) or present (malformed), and accepts only what the
//! signer would have produced for the same id, timestamp, body and key.
//!
//! Input: one byte choosing the fixture, then `Name: value` lines, an empty line, and the body.
#![no_main]

use std::sync::LazyLock;

use hookguard::header;
use hookguard::{Verifier, VerifyError};
use hookguard_fuzz::{FIXTURES, Fixture, TagFormat, parse_request, verify_target_verifier};
use http::HeaderMap;
use libfuzzer_sys::fuzz_target;

static VERIFIERS: LazyLock<Vec<Verifier>> =
    LazyLock::new(|| FIXTURES.iter().map(verify_target_verifier).collect());

/// Every tag a header value of this scheme carries, decoded.
fn tags(format: &TagFormat, value: &[u8]) -> Vec<Vec<u8>> {
    let found = match format {
        TagFormat::StandardWebhooks => header::standard_webhooks(value),
        TagFormat::Stripe => header::stripe(value)
            .map(|p| p.signatures)
            .unwrap_or_default(),
        TagFormat::Single { prefix, encoding } => {
            header::single(value, prefix.as_bytes(), *encoding).into()
        }
    };
    found.iter().map(|c| c.bytes().to_vec()).collect()
}

/// After a success: what the signer makes with the matched key must be among the request's tags.
fn check_against_signer(fixture: &Fixture, headers: &HeaderMap, body: &[u8], key_index: usize) {
    // The Ed25519 fixture's first verifying key is a public key: nothing to re-sign with that is
    // guaranteed to produce the same bytes as some other valid signature, so only HMAC keys are checked.
    if fixture.verifying_keys[key_index].starts_with("whpk_") {
        return;
    }
    let Ok(signer) =
        hookguard::Signer::new(fixture.scheme.clone(), &fixture.signing_keys[key_index])
    else {
        panic!("{}: key {key_index} cannot sign", fixture.label);
    };
    let sent_names: Vec<_> = if fixture.label.starts_with("standard-webhooks")
        && !headers.contains_key("webhook-signature")
    {
        vec!["svix-signature", "svix-id", "svix-timestamp"]
    } else {
        vec![
            fixture.signature_header.as_str(),
            fixture.id_header.as_ref().map_or("", |n| n.as_str()),
            fixture.timestamp_header.as_ref().map_or("", |n| n.as_str()),
        ]
    };
    let value = |name: &str| headers.get(name).map(http::HeaderValue::as_bytes);
    let signature = value(sent_names[0]).expect("verified without a signature header");
    let id = value(sent_names[1])
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("id");
    let timestamp = match &fixture.tags {
        TagFormat::Stripe => header::stripe(signature).and_then(|p| header::timestamp(p.timestamp)),
        _ => value(sent_names[2]).and_then(header::timestamp),
    }
    .unwrap_or(0);
    let Ok(ours) = signer.sign(id, timestamp, body) else {
        // The signer refuses some ids the verifier reads (spaces, commas); nothing to compare then.
        return;
    };
    let ours = ours
        .get(&fixture.signature_header)
        .expect("signer sets the signature header");
    let wanted = tags(&fixture.tags, ours.as_bytes());
    let sent = tags(&fixture.tags, signature);
    assert!(
        wanted.iter().any(|t| sent.contains(t)),
        "{}: verified, but no tag is what the signer makes",
        fixture.label
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let index = usize::from(selector) % FIXTURES.len();
    let (fixture, verifier) = (&FIXTURES[index], &VERIFIERS[index]);
    let (headers, body) = parse_request(rest);

    let result = verifier.verify(&headers, body);
    assert_eq!(result, verifier.verify(&headers, body), "not deterministic");
    match result {
        Ok(verified) => {
            assert_eq!(verified.scheme(), fixture.scheme.name());
            assert!(verified.key_index() < verifier.key_count());
            assert_eq!(
                verified.timestamp().is_some(),
                fixture.signs_timestamp,
                "{}: timestamp presence",
                fixture.label
            );
            if let Some(id) = verified.id() {
                let names = [
                    "webhook-id",
                    "svix-id",
                    "x-github-delivery",
                    "x-shopify-event-id",
                    "x-shopify-webhook-id",
                    "x-acme-id",
                ];
                assert!(
                    names.iter().any(|n| headers
                        .get(*n)
                        .is_some_and(|v| v.as_bytes() == id.as_bytes())),
                    "{}: id {id:?} is not a header's value",
                    fixture.label
                );
            }
            let owned = verified.clone().into_owned();
            assert_eq!(owned, verified);
            check_against_signer(fixture, &headers, body, verified.key_index());
        }
        Err(VerifyError::MissingHeader(name)) => {
            assert!(
                !headers.contains_key(&name),
                "missing {name}, but it is there"
            );
        }
        Err(VerifyError::MalformedHeader(name)) => {
            assert!(
                headers.contains_key(&name),
                "malformed {name}, but it is absent"
            );
        }
        Err(VerifyError::TimestampTooOld | VerifyError::TimestampTooNew) => {
            assert!(
                fixture.signs_timestamp,
                "{}: timestamp error without timestamps",
                fixture.label
            );
        }
        Err(e) => {
            // Display and kind never panic, and never hold key material (spot-check the first key).
            let text = e.to_string();
            assert!(!e.kind().is_empty());
            assert!(!text.contains(&fixture.verifying_keys[0]));
        }
    }
});
