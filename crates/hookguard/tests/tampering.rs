//! A tampered payload, a tampered signature or the wrong secret fails with `SignatureMismatch`, for every preset
//! scheme; an untouched request verifies, whatever bytes its payload holds.

mod common;

use hookguard::{Scheme, VerifyError};
use http::HeaderMap;

const NOW: i64 = 1_700_000_000;
const PAYLOAD: &[u8] = br#"{"type":"invoice.paid","data":{"amount":4200}}"#;

fn signed(scheme: &Scheme, secret: &str, payload: &[u8]) -> HeaderMap {
    common::signer(scheme.clone(), &[secret])
        .sign("msg_2Lm1", NOW, payload)
        .expect("sign")
}

/// The header that carries the signature, and where the encoded signature starts in its value.
fn signature_text(scheme: &Scheme, value: &str) -> (&'static str, usize) {
    match scheme.name() {
        "standard-webhooks" => ("webhook-signature", "v1,".len()),
        "stripe" => ("stripe-signature", value.find("v1=").expect("v1=") + 3),
        "github" => ("x-hub-signature-256", "sha256=".len()),
        "slack" => ("x-slack-signature", "v0=".len()),
        "shopify" => ("x-shopify-hmac-sha256", 0),
        other => panic!("{other}"),
    }
}

fn header_name(scheme: &Scheme) -> &'static str {
    signature_text(scheme, "v1=").0
}

#[test]
fn an_untouched_request_verifies_for_every_scheme() {
    for (scheme, secret) in common::presets() {
        let headers = signed(&scheme, secret, PAYLOAD);
        let verifier = common::verifier(scheme.clone(), &[secret], NOW);
        let name = scheme.name();
        let verified = verifier.verify(&headers, PAYLOAD).expect(name);
        assert_eq!(verified.scheme(), scheme.name());
        assert_eq!(verified.key_index(), 0);
        let want_ts = scheme.has_timestamp().then_some(NOW);
        assert_eq!(verified.timestamp(), want_ts, "{}", scheme.name());
    }
}

#[test]
fn any_tampering_with_the_payload_fails() {
    for (scheme, secret) in common::presets() {
        let headers = signed(&scheme, secret, PAYLOAD);
        let verifier = common::verifier(scheme.clone(), &[secret], NOW);
        let mut tampered: Vec<Vec<u8>> = vec![
            Vec::new(),
            PAYLOAD[..PAYLOAD.len() - 1].to_vec(),
            [PAYLOAD, b" "].concat(),
            [b" ", PAYLOAD].concat(),
            PAYLOAD.to_ascii_uppercase(),
        ];
        for i in [0, PAYLOAD.len() / 2, PAYLOAD.len() - 1] {
            let mut p = PAYLOAD.to_vec();
            p[i] ^= 0x01;
            tampered.push(p);
        }
        for payload in tampered {
            assert_eq!(
                verifier.verify(&headers, &payload),
                Err(VerifyError::SignatureMismatch),
                "{}: {:?}",
                scheme.name(),
                String::from_utf8_lossy(&payload)
            );
        }
    }
}

#[test]
fn a_tampered_signature_fails() {
    for (scheme, secret) in common::presets() {
        let headers = signed(&scheme, secret, PAYLOAD);
        let verifier = common::verifier(scheme.clone(), &[secret], NOW);
        let value = common::value(&headers, header_name(&scheme)).to_owned();
        let (name, start) = signature_text(&scheme, &value);
        let end = value[start..]
            .find([',', ' '])
            .map_or(value.len(), |i| start + i);
        // Replace the first, a middle and a late encoded character: `0` and `1` are in both the hex and the base64
        // alphabet (the late one is not base64's last character, whose low bits must stay zero).
        for at in [start, (start + end) / 2, end - 3] {
            let mut bytes = value.clone().into_bytes();
            bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
            let tampered = String::from_utf8(bytes).expect("ASCII");
            let tampered_headers = common::with_header(&headers, name, &tampered);
            assert_eq!(
                verifier.verify(&tampered_headers, PAYLOAD),
                Err(VerifyError::SignatureMismatch),
                "{}: {tampered}",
                scheme.name()
            );
        }
    }
}

#[test]
fn the_wrong_secret_fails() {
    for (scheme, secret) in common::presets() {
        let headers = signed(&scheme, secret, PAYLOAD);
        let wrong = match scheme.name() {
            "standard-webhooks" => "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_owned(),
            _ => format!("{secret}x"),
        };
        let verifier = common::verifier(scheme.clone(), &[&wrong], NOW);
        assert_eq!(
            verifier.verify(&headers, PAYLOAD),
            Err(VerifyError::SignatureMismatch),
            "{}",
            scheme.name()
        );
    }
}

#[test]
fn payloads_need_not_be_utf8() {
    let payload: Vec<u8> = (0..=255u8).rev().collect();
    for (scheme, secret) in common::presets() {
        let headers = signed(&scheme, secret, &payload);
        let verifier = common::verifier(scheme.clone(), &[secret], NOW);
        assert!(
            verifier.verify(&headers, &payload).is_ok(),
            "{}",
            scheme.name()
        );
        assert_eq!(
            verifier.verify(&headers, &payload[1..]),
            Err(VerifyError::SignatureMismatch)
        );
    }
}

#[test]
fn a_signature_from_another_scheme_does_not_verify() {
    // GitHub and Shopify sign the same bytes (the raw body) with the same key: only the encoding differs, and a
    // header of one is not accepted under the other's name.
    let secret = "shared-secret-0123456789";
    let github = signed(&Scheme::github(), secret, PAYLOAD);
    let value = common::value(&github, "x-hub-signature-256");
    let forged = common::headers(&[("x-shopify-hmac-sha256", value)]);
    let shopify = common::verifier(Scheme::shopify(), &[secret], NOW);
    assert_eq!(
        shopify.verify(&forged, PAYLOAD),
        Err(VerifyError::MalformedHeader(http::HeaderName::from_static(
            "x-shopify-hmac-sha256"
        )))
    );
}
