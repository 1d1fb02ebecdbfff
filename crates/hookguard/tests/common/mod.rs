//! Helpers shared by the integration tests: building schemes, header maps, verifiers and signers from plain data.

#![allow(dead_code)]

use hookguard::{FixedClock, Scheme, Signer, Verifier};
use http::{HeaderMap, HeaderName, HeaderValue};

/// A preset scheme by its name (`standard-webhooks`, `stripe`, `github`, `slack`, `shopify`).
pub(crate) fn scheme(name: &str) -> Scheme {
    match name {
        "standard-webhooks" => Scheme::standard_webhooks(),
        "stripe" => Scheme::stripe(),
        "github" => Scheme::github(),
        "slack" => Scheme::slack(),
        "shopify" => Scheme::shopify(),
        other => panic!("unknown scheme {other:?}"),
    }
}

/// Every preset scheme with a secret that suits it.
pub(crate) fn presets() -> Vec<(Scheme, &'static str)> {
    vec![
        (
            Scheme::standard_webhooks(),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        (Scheme::stripe(), "whsec_test_secret_for_stripe"),
        (Scheme::github(), "It's a Secret to Everybody"),
        (Scheme::slack(), "8f742231b10e8888abcd99yyyzzz85a5"),
        (Scheme::shopify(), "hush-shopify-client-secret"),
    ]
}

/// A header map from `(name, value)` pairs; a name given twice is sent twice.
pub(crate) fn headers<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_ref().as_bytes()).expect("header name"),
            HeaderValue::from_str(value.as_ref()).expect("header value"),
        );
    }
    map
}

/// A verifier for `scheme` that accepts every secret in order, with the clock stopped at `now`.
pub(crate) fn verifier(scheme: Scheme, secrets: &[&str], now: i64) -> Verifier {
    let (first, rest) = secrets.split_first().expect("at least one secret");
    let mut verifier = Verifier::new(scheme, first).expect("first secret");
    for secret in rest {
        verifier = verifier.with_secret(secret).expect("rotation secret");
    }
    verifier.with_clock(FixedClock(now))
}

/// A signer for `scheme` with every secret in order.
pub(crate) fn signer(scheme: Scheme, secrets: &[&str]) -> Signer {
    let (first, rest) = secrets.split_first().expect("at least one secret");
    let mut signer = Signer::new(scheme, first).expect("first secret");
    for secret in rest {
        signer = signer.with_secret(secret).expect("rotation secret");
    }
    signer
}

/// The value of `name` in `headers` as text.
pub(crate) fn value<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ASCII header")
}

/// `headers` with `name`'s value replaced.
pub(crate) fn with_header(headers: &HeaderMap, name: &'static str, value: &str) -> HeaderMap {
    let mut out = headers.clone();
    out.insert(name, HeaderValue::from_str(value).expect("header value"));
    out
}
