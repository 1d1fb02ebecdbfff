//! Keys: empty, short and undecodable keys are refused with a clear error; `whsec_` keys decode with or without
//! prefix and padding; secrets never show up in `Debug` output or in any error's message.

mod common;

use base64::Engine as _;
use hookguard::{KeyError, MIN_SECRET_LEN, Scheme, Secret, Signer, Verifier, VerifyError};

const NOW: i64 = 1_700_000_000;
const PAYLOAD: &[u8] = b"{}";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn key_error(scheme: Scheme, secret: &str) -> KeyError {
    let from_verifier = Verifier::new(scheme.clone(), secret).expect_err(secret);
    let from_signer = Signer::new(scheme.clone(), secret).expect_err(secret);
    assert_eq!(from_verifier, from_signer);
    // A bad rotation key is refused the same way.
    let good = common::presets()
        .into_iter()
        .find(|(s, _)| s.name() == scheme.name())
        .expect("preset")
        .1;
    let rotated = Verifier::new(scheme, good)
        .expect("good key")
        .with_secret(secret);
    assert_eq!(rotated.expect_err(secret), from_verifier);
    from_verifier
}

#[test]
fn empty_keys_are_refused() {
    for (scheme, _) in common::presets() {
        assert_eq!(
            key_error(scheme.clone(), ""),
            KeyError::Empty,
            "{}",
            scheme.name()
        );
    }
    assert_eq!(
        key_error(Scheme::standard_webhooks(), "whsec_"),
        KeyError::Empty
    );
    assert_eq!(Secret::new(Vec::new()).expect_err("empty"), KeyError::Empty);
}

#[test]
fn short_keys_are_refused() {
    let fifteen = b64(&[7; 15]);
    assert_eq!(
        key_error(Scheme::standard_webhooks(), &format!("whsec_{fifteen}")),
        KeyError::TooShort {
            len: 15,
            min: MIN_SECRET_LEN
        }
    );
    for scheme in [
        Scheme::stripe(),
        Scheme::github(),
        Scheme::slack(),
        Scheme::shopify(),
    ] {
        assert_eq!(
            key_error(scheme.clone(), "fifteen-bytes!!"),
            KeyError::TooShort { len: 15, min: 16 },
            "{}",
            scheme.name()
        );
        assert!(Verifier::new(scheme, "sixteen-bytes!!!").is_ok());
    }
    assert!(
        Verifier::new(
            Scheme::standard_webhooks(),
            &format!("whsec_{}", b64(&[7; 16]))
        )
        .is_ok()
    );
    assert!(Secret::new(vec![1; 16]).is_ok());
    // The message says how long the key is and how long it must be.
    let err = KeyError::TooShort { len: 15, min: 16 }.to_string();
    assert!(err.contains("15") && err.contains("16"), "{err}");
}

#[test]
fn keys_that_are_not_base64_are_refused() {
    for bad in [
        "whsec_not base64!",
        "whsec_%%%%%%%%%%%%%%%%%%%%%%",
        "whsec_YWJj=ZGVm",
        "whsec_A",
    ] {
        assert_eq!(
            key_error(Scheme::standard_webhooks(), bad),
            KeyError::InvalidBase64 { prefix: "whsec_" },
            "{bad}"
        );
    }
    let message = KeyError::InvalidBase64 { prefix: "whsec_" }.to_string();
    assert!(message.contains("whsec_"), "{message}");
}

#[test]
fn whsec_keys_decode_with_or_without_prefix_and_padding() {
    // 16 bytes: base64 with two padding characters.
    let raw = b"sixteen bytes!!!";
    let padded = b64(raw);
    assert!(padded.ends_with("=="));
    let forms = [
        format!("whsec_{padded}"),
        format!("whsec_{}", padded.trim_end_matches('=')),
        padded.clone(),
        padded.trim_end_matches('=').to_owned(),
    ];
    let headers = common::signer(Scheme::standard_webhooks(), &[&forms[0]])
        .sign("msg_key", NOW, PAYLOAD)
        .expect("sign");
    for form in &forms {
        let verifier = common::verifier(Scheme::standard_webhooks(), &[form], NOW);
        assert!(verifier.verify(&headers, PAYLOAD).is_ok(), "{form}");
        let again = common::signer(Scheme::standard_webhooks(), &[form])
            .sign("msg_key", NOW, PAYLOAD)
            .expect("sign");
        assert_eq!(again, headers, "{form}");
    }
}

#[test]
fn stripe_uses_the_whole_whsec_string_as_the_key() {
    // The same string means different keys under Standard Webhooks and Stripe: Stripe does not decode it.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let signed = common::signer(Scheme::stripe(), &[secret])
        .sign("", NOW, PAYLOAD)
        .expect("sign");
    let value = common::value(&signed, "stripe-signature");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .expect("b64");
    assert!(value.starts_with(&format!("t={NOW},v1=")));
    use hmac::{KeyInit as _, Mac as _};
    let mut by_string = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    by_string.update(format!("{NOW}.").as_bytes());
    by_string.update(PAYLOAD);
    assert!(value.ends_with(&hex::encode(by_string.finalize().into_bytes())));
    let mut by_bytes = hmac::Hmac::<sha2::Sha256>::new_from_slice(&decoded).expect("key");
    by_bytes.update(format!("{NOW}.").as_bytes());
    by_bytes.update(PAYLOAD);
    assert!(!value.ends_with(&hex::encode(by_bytes.finalize().into_bytes())));
}

#[test]
fn debug_output_never_shows_a_secret() {
    let secret = Secret::new(b"super secret value".to_vec()).expect("secret");
    assert_eq!(format!("{secret:?}"), "Secret(***)");
    assert_eq!(format!("{secret:#?}"), "Secret(***)");
    for (scheme, key) in common::presets() {
        let verifier = common::verifier(scheme.clone(), &[key], NOW);
        let signer = common::signer(scheme.clone(), &[key]);
        for debug in [format!("{verifier:?}"), format!("{signer:#?}")] {
            assert!(!debug.contains(key), "{debug}");
            assert!(!debug.contains(key.trim_start_matches("whsec_")), "{debug}");
            assert!(debug.contains("Secret(***)"), "{debug}");
        }
    }
}

#[test]
fn errors_never_contain_the_secret_or_the_expected_signature() {
    for (scheme, secret) in common::presets() {
        let headers = common::signer(scheme.clone(), &[secret])
            .sign("msg_err", NOW, PAYLOAD)
            .expect("sign");
        // Everything that the right answer would reveal: the key and each signature header's value and parts.
        let mut secrets: Vec<String> = vec![
            secret.to_owned(),
            secret.trim_start_matches("whsec_").to_owned(),
        ];
        for value in headers.values() {
            let value = value.to_str().expect("ASCII");
            secrets.push(value.to_owned());
            secrets.extend(
                value
                    .split([',', '=', ' '])
                    .filter(|p| p.len() >= 20)
                    .map(str::to_owned),
            );
        }
        let verifier = common::verifier(scheme.clone(), &[secret], NOW);
        let mut errors: Vec<VerifyError> = vec![
            verifier
                .verify(&headers, b"tampered")
                .expect_err("mismatch"),
            verifier
                .verify(&http::HeaderMap::new(), PAYLOAD)
                .expect_err("missing"),
        ];
        if scheme.has_timestamp() {
            let late = common::verifier(scheme.clone(), &[secret], NOW + 1000);
            errors.push(late.verify(&headers, PAYLOAD).expect_err("too old"));
            let early = common::verifier(scheme.clone(), &[secret], NOW - 1000);
            errors.push(early.verify(&headers, PAYLOAD).expect_err("too new"));
        }
        let mut twice = headers.clone();
        for (name, value) in &headers {
            twice.append(name.clone(), value.clone());
        }
        errors.push(verifier.verify(&twice, PAYLOAD).expect_err("malformed"));
        assert!(errors.len() >= 3);
        for err in &errors {
            for text in [err.to_string(), format!("{err:?}"), err.kind().to_owned()] {
                for s in &secrets {
                    assert!(
                        !text.contains(s.as_str()),
                        "{}: {text:?} contains {s:?}",
                        scheme.name()
                    );
                }
            }
        }
    }
    // Key errors do not repeat the key either.
    for bad in ["whsec_c2hvcnQ=", "whsec_not base64 at all!"] {
        let err = Verifier::new(Scheme::standard_webhooks(), bad).expect_err(bad);
        assert!(
            !err.to_string().contains(bad.trim_start_matches("whsec_")),
            "{err}"
        );
    }
}

#[test]
fn every_error_kind_has_a_stable_name_and_status_class() {
    let name = http::HeaderName::from_static("webhook-id");
    let cases = [
        (
            VerifyError::MissingHeader(name.clone()),
            "missing-header",
            true,
        ),
        (VerifyError::MalformedHeader(name), "malformed-header", true),
        (VerifyError::SignatureMismatch, "signature-mismatch", false),
        (VerifyError::TimestampTooOld, "timestamp-too-old", false),
        (VerifyError::TimestampTooNew, "timestamp-too-new", false),
    ];
    for (err, kind, malformed) in cases {
        assert_eq!(err.kind(), kind);
        assert_eq!(err.is_malformed_request(), malformed, "{kind}");
        assert!(!err.to_string().is_empty());
    }
}

#[cfg(not(feature = "ed25519"))]
#[test]
fn ed25519_keys_need_the_feature() {
    for key in ["whpk_AAAA", "whsk_AAAA"] {
        assert_eq!(
            key_error(Scheme::standard_webhooks(), key),
            KeyError::Ed25519Disabled
        );
    }
}
