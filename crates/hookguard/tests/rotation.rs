//! Secret rotation: a verifier accepts several keys and reports which one matched; a signer signs with every
//! key (Standard Webhooks, Stripe) or with its first (single-signature schemes).

mod common;

use hookguard::{Scheme, VerifyError};

const NOW: i64 = 1_700_000_000;
const PAYLOAD: &[u8] = b"rotate me";
const SW_OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_NEW: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SW_OTHER: &str = "whsec_dGhpcmQga2V5LCBub2JvZHkgaGFzIGl0";

fn raw_keys(scheme: &Scheme) -> [&'static str; 3] {
    match scheme.name() {
        "standard-webhooks" => [SW_OLD, SW_NEW, SW_OTHER],
        _ => [
            "old-secret-0123456789",
            "new-secret-0123456789",
            "other-secret-0123456789",
        ],
    }
}

#[test]
fn the_index_of_the_matching_key_is_reported() {
    for (scheme, _) in common::presets() {
        let [old, new, other] = raw_keys(&scheme);
        let verifier = common::verifier(scheme.clone(), &[old, new], NOW);
        assert_eq!(verifier.key_count(), 2);
        for (key, index) in [(old, 0), (new, 1)] {
            let headers = common::signer(scheme.clone(), &[key])
                .sign("msg_rot", NOW, PAYLOAD)
                .expect("sign");
            let name = scheme.name();
            let verified = verifier.verify(&headers, PAYLOAD).expect(name);
            assert_eq!(verified.key_index(), index, "{}", scheme.name());
        }
        let headers = common::signer(scheme.clone(), &[other])
            .sign("msg_rot", NOW, PAYLOAD)
            .expect("sign");
        assert_eq!(
            verifier.verify(&headers, PAYLOAD),
            Err(VerifyError::SignatureMismatch),
            "{}",
            scheme.name()
        );
    }
}

#[test]
fn when_several_keys_match_the_first_is_reported() {
    for (scheme, _) in common::presets() {
        let [old, new, _] = raw_keys(&scheme);
        let headers = common::signer(scheme.clone(), &[new])
            .sign("msg_rot", NOW, PAYLOAD)
            .expect("sign");
        let verifier = common::verifier(scheme.clone(), &[old, new, new], NOW);
        assert_eq!(
            verifier.verify(&headers, PAYLOAD).map(|v| v.key_index()),
            Ok(1)
        );
    }
}

#[test]
fn multi_signature_schemes_sign_with_every_key() {
    for scheme in [Scheme::standard_webhooks(), Scheme::stripe()] {
        let [old, new, other] = raw_keys(&scheme);
        let headers = common::signer(scheme.clone(), &[old, new])
            .sign("msg_rot", NOW, PAYLOAD)
            .expect("sign");
        let value = match scheme.name() {
            "stripe" => common::value(&headers, "stripe-signature"),
            _ => common::value(&headers, "webhook-signature"),
        };
        let entries = value.matches("v1").count();
        assert_eq!(entries, 2, "{value}");
        // A receiver that knows only one of the keys, in any position, still verifies.
        for (keys, index) in [
            (vec![old], 0),
            (vec![new], 0),
            (vec![other, new], 1),
            (vec![other, old], 1),
        ] {
            let verifier = common::verifier(scheme.clone(), &keys, NOW);
            assert_eq!(
                verifier.verify(&headers, PAYLOAD).map(|v| v.key_index()),
                Ok(index),
                "{}: {keys:?}",
                scheme.name()
            );
        }
    }
}

#[test]
fn single_signature_schemes_sign_with_the_first_key() {
    for scheme in [Scheme::github(), Scheme::slack(), Scheme::shopify()] {
        let [old, new, _] = raw_keys(&scheme);
        let headers = common::signer(scheme.clone(), &[old, new])
            .sign("msg_rot", NOW, PAYLOAD)
            .expect("sign");
        let only_old = common::verifier(scheme.clone(), &[old], NOW);
        assert!(
            only_old.verify(&headers, PAYLOAD).is_ok(),
            "{}",
            scheme.name()
        );
        let only_new = common::verifier(scheme.clone(), &[new], NOW);
        assert_eq!(
            only_new.verify(&headers, PAYLOAD),
            Err(VerifyError::SignatureMismatch),
            "{}",
            scheme.name()
        );
    }
}

#[test]
fn adding_a_key_to_a_clone_leaves_the_original_alone() {
    let verifier = common::verifier(Scheme::standard_webhooks(), &[SW_OLD], NOW);
    let rotated = verifier.clone().with_secret(SW_NEW).expect("key");
    assert_eq!((verifier.key_count(), rotated.key_count()), (1, 2));
    let headers = common::signer(Scheme::standard_webhooks(), &[SW_NEW])
        .sign("msg_rot", NOW, PAYLOAD)
        .expect("sign");
    assert_eq!(
        verifier.verify(&headers, PAYLOAD),
        Err(VerifyError::SignatureMismatch)
    );
    assert_eq!(
        rotated.verify(&headers, PAYLOAD).map(|v| v.key_index()),
        Ok(1)
    );
}
