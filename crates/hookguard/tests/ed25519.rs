//! Standard Webhooks `v1a` (Ed25519, feature `ed25519`): `whsk_` secret keys (32-byte seed, or seed + public key)
//! sign, `whpk_` public keys verify, and the keys mix with `whsec_` HMAC keys during a migration.

#![cfg(feature = "ed25519")]

mod common;

use base64::Engine as _;
use hookguard::{KeyError, Scheme, Signer, Verifier, VerifyError};

const NOW: i64 = 1_700_000_000;
const PAYLOAD: &[u8] = br#"{"type":"user.created"}"#;
const HMAC_KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// RFC 8032, section 7.1, TEST 1 and TEST 2 key pairs.
const SEED_1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC_1: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const SEED_2: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const PUBLIC_2: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

fn key(prefix: &str, hex_parts: &[&str]) -> String {
    let bytes: Vec<u8> = hex_parts
        .iter()
        .flat_map(|h| hex::decode(h).expect("hex"))
        .collect();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn sign(keys: &[&str]) -> http::HeaderMap {
    common::signer(Scheme::standard_webhooks(), keys)
        .sign("msg_ed", NOW, PAYLOAD)
        .expect("sign")
}

fn verify(keys: &[&str], headers: &http::HeaderMap, payload: &[u8]) -> Result<usize, VerifyError> {
    common::verifier(Scheme::standard_webhooks(), keys, NOW)
        .verify(headers, payload)
        .map(|v| v.key_index())
}

#[test]
fn a_seed_signs_and_the_public_key_verifies() {
    let whsk = key("whsk_", &[SEED_1]);
    let whpk = key("whpk_", &[PUBLIC_1]);
    let headers = sign(&[&whsk]);
    let signature = common::value(&headers, "webhook-signature");
    assert!(signature.starts_with("v1a,"), "{signature}");
    assert_eq!(signature.len(), "v1a,".len() + 88, "{signature}");
    assert_eq!(verify(&[&whpk], &headers, PAYLOAD), Ok(0));
    // The secret key verifies too (through its public half).
    assert_eq!(verify(&[&whsk], &headers, PAYLOAD), Ok(0));
    assert_eq!(
        verify(&[&whpk], &headers, b"{}"),
        Err(VerifyError::SignatureMismatch)
    );
    // Another key pair does not verify it.
    assert_eq!(
        verify(&[&key("whpk_", &[PUBLIC_2])], &headers, PAYLOAD),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn the_64_byte_secret_form_signs_identically() {
    let short = sign(&[&key("whsk_", &[SEED_2])]);
    let long = sign(&[&key("whsk_", &[SEED_2, PUBLIC_2])]);
    assert_eq!(short, long);
    assert_eq!(verify(&[&key("whpk_", &[PUBLIC_2])], &long, PAYLOAD), Ok(0));
    // Ed25519 signatures are deterministic: signing twice gives the same header.
    assert_eq!(sign(&[&key("whsk_", &[SEED_2])]), short);
}

#[test]
fn malformed_ed25519_keys_are_refused() {
    let mismatched = key("whsk_", &[SEED_1, PUBLIC_2]);
    assert_eq!(
        Signer::new(Scheme::standard_webhooks(), &mismatched).unwrap_err(),
        KeyError::InvalidEd25519
    );
    for bad in [
        key("whsk_", &["00"]),
        key("whpk_", &[SEED_1, SEED_1]),
        key("whsk_", &[SEED_1, "00"]),
    ] {
        assert_eq!(
            Verifier::new(Scheme::standard_webhooks(), &bad).unwrap_err(),
            KeyError::InvalidEd25519,
            "{bad}"
        );
    }
    assert_eq!(
        Verifier::new(Scheme::standard_webhooks(), "whsk_***").unwrap_err(),
        KeyError::InvalidBase64 { prefix: "whsk_" }
    );
    assert_eq!(
        Verifier::new(Scheme::standard_webhooks(), "whpk_***").unwrap_err(),
        KeyError::InvalidBase64 { prefix: "whpk_" }
    );
    let whpk = key("whpk_", &[PUBLIC_1]);
    assert_eq!(
        Signer::new(Scheme::standard_webhooks(), &whpk).unwrap_err(),
        KeyError::CannotSign
    );
    for scheme in [
        Scheme::stripe(),
        Scheme::github(),
        Scheme::slack(),
        Scheme::shopify(),
    ] {
        let name = scheme.name();
        assert_eq!(
            Verifier::new(scheme, &whpk).unwrap_err(),
            KeyError::Ed25519NotSupported { scheme: name }
        );
    }
}

#[test]
fn hmac_and_ed25519_keys_sign_side_by_side() {
    let whsk = key("whsk_", &[SEED_1]);
    let whpk = key("whpk_", &[PUBLIC_1]);
    let headers = sign(&[HMAC_KEY, &whsk]);
    let signature = common::value(&headers, "webhook-signature");
    let versions: Vec<&str> = signature
        .split(' ')
        .map(|e| e.split_once(',').expect("entry").0)
        .collect();
    assert_eq!(versions, ["v1", "v1a"]);
    // Old receivers that know only the HMAC key and new ones with only the public key both verify.
    assert_eq!(verify(&[HMAC_KEY], &headers, PAYLOAD), Ok(0));
    assert_eq!(verify(&[&whpk], &headers, PAYLOAD), Ok(0));
    assert_eq!(verify(&[HMAC_KEY, &whpk], &headers, PAYLOAD), Ok(0));
    assert_eq!(verify(&[&whpk, HMAC_KEY], &headers, PAYLOAD), Ok(0));
    // An HMAC tag is never checked against an Ed25519 key, nor the reverse.
    let hmac_only = sign(&[HMAC_KEY]);
    assert_eq!(
        verify(&[&whpk], &hmac_only, PAYLOAD),
        Err(VerifyError::SignatureMismatch)
    );
    let ed_only = sign(&[&whsk]);
    assert_eq!(
        verify(&[HMAC_KEY], &ed_only, PAYLOAD),
        Err(VerifyError::SignatureMismatch)
    );
    assert_eq!(verify(&[HMAC_KEY, &whpk], &ed_only, PAYLOAD), Ok(1));
}

#[test]
fn a_tampered_ed25519_signature_fails() {
    let whsk = key("whsk_", &[SEED_1]);
    let whpk = key("whpk_", &[PUBLIC_1]);
    let headers = sign(&[&whsk]);
    let value = common::value(&headers, "webhook-signature").to_owned();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&value["v1a,".len()..])
        .expect("b64");
    assert_eq!(raw.len(), 64);
    for i in [0, 31, 32, 63] {
        let mut bytes = raw.clone();
        bytes[i] ^= 0x80;
        let tampered = format!(
            "v1a,{}",
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        );
        let request = common::with_header(&headers, "webhook-signature", &tampered);
        assert_eq!(
            verify(&[&whpk], &request, PAYLOAD),
            Err(VerifyError::SignatureMismatch),
            "byte {i}"
        );
    }
    // A v1a entry of the wrong length is malformed and skipped.
    let short = common::with_header(&headers, "webhook-signature", &value[..value.len() - 4]);
    assert_eq!(
        verify(&[&whpk], &short, PAYLOAD),
        Err(VerifyError::MalformedHeader(http::HeaderName::from_static(
            "webhook-signature"
        )))
    );
}
