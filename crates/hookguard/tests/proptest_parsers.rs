//! Property tests of the fuzz targets' "never panics" invariants, short enough for CI: every header parser
//! on arbitrary bytes, and `Verifier::verify` on arbitrary headers and bodies, for every scheme.

mod common;

use hookguard::header::{self, Algorithm, MAX_CANDIDATES, MAX_TIMESTAMP};
use hookguard::{Encoding, Scheme, VerifyError};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000;

/// Values that look like signature headers often enough to reach the decoders, and arbitrary bytes otherwise.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "(v1,|v1a,|v2,|t=|v1=|v0=|sha256=| |,|[A-Za-z0-9+/=]{0,90}|[0-9a-f]{0,70}|[0-9]{0,20})*"
            .prop_map(String::into_bytes),
    ]
}

fn check_candidate(c: &header::Candidate) {
    assert_eq!(c.bytes().len(), c.algorithm.signature_len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn header_parsers_never_panic_and_keep_their_bounds(value in header_bytes()) {
        let sw = header::standard_webhooks(&value);
        prop_assert!(sw.len() <= MAX_CANDIDATES);
        prop_assert_eq!(sw.iter().count(), sw.len());
        prop_assert_eq!(sw.is_empty(), sw.iter().next().is_none());
        sw.iter().for_each(check_candidate);

        if let Some(stripe) = header::stripe(&value) {
            prop_assert!(stripe.signatures.len() <= MAX_CANDIDATES);
            prop_assert!(header::timestamp(stripe.timestamp).is_some());
            for c in stripe.signatures.iter() {
                prop_assert_eq!(c.algorithm, Algorithm::HmacSha256);
                check_candidate(c);
            }
        }

        for (prefix, encoding) in [
            (&b"sha256="[..], Encoding::Hex),
            (b"v0=", Encoding::Hex),
            (b"", Encoding::Base64),
        ] {
            if let Some(c) = header::single(&value, prefix, encoding) {
                prop_assert_eq!(c.algorithm, Algorithm::HmacSha256);
                check_candidate(&c);
            }
        }

        if let Some(t) = header::timestamp(&value) {
            prop_assert!((0..=MAX_TIMESTAMP).contains(&t));
            let digits = std::str::from_utf8(&value).expect("a timestamp is ASCII digits");
            prop_assert_eq!(digits.parse::<i64>().ok(), Some(t));
        }
    }

    #[test]
    fn verify_never_panics_and_names_only_headers_it_saw(
        scheme in 0usize..6,
        entries in proptest::collection::vec((0usize..NAMES.len(), header_bytes()), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (scheme, secret) = scheme_and_secret(scheme);
        let mut headers = HeaderMap::new();
        for (name, value) in entries {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.append(HeaderName::from_static(NAMES[name]), value);
            }
        }
        let verifier = common::verifier(scheme, &[secret], NOW);
        let first = verifier.verify(&headers, &body).map(|v| v.key_index());
        // Same answer twice: verification holds no state.
        prop_assert_eq!(&first, &verifier.verify(&headers, &body).map(|v| v.key_index()));
        match first {
            Err(VerifyError::MissingHeader(name)) => prop_assert!(!headers.contains_key(&name)),
            Err(VerifyError::MalformedHeader(name)) => prop_assert!(headers.contains_key(&name)),
            // A random signature never matches a real key.
            Ok(_) => prop_assert!(false, "accepted an unsigned request"),
            Err(_) => {}
        }
    }
}

/// Every header name any scheme reads, plus one none does.
const NAMES: [&str; 16] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-shopify-hmac-sha256",
    "x-shopify-event-id",
    "x-acme-signature",
    "x-acme-timestamp",
    "x-unrelated",
];

fn scheme_and_secret(i: usize) -> (Scheme, &'static str) {
    match common::presets().get(i) {
        Some(&(ref scheme, secret)) => (scheme.clone(), secret),
        None => (
            Scheme::custom("acme")
                .signature_header("x-acme-signature")
                .prefix("sig=")
                .encoding(Encoding::Base64)
                .timestamp_header("x-acme-timestamp")
                .signed_content("{timestamp}:{payload}")
                .build()
                .expect("scheme"),
            "acme-secret-0123456789",
        ),
    }
}
