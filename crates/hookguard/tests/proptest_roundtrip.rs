//! Property tests: for every scheme, what `Signer` signs `Verifier` accepts; any change to the payload, or to the
//! decoded bytes of the signature, is refused with `SignatureMismatch`.

mod common;

use base64::Engine as _;
use hookguard::{Encoding, Scheme, VerifyError};
use proptest::prelude::*;

/// Where a scheme writes its signature, and how it is encoded.
struct Layout {
    header: &'static str,
    /// The text right before the encoded signature.
    marker: &'static str,
    encoding: Encoding,
}

fn layout(scheme: &Scheme) -> Layout {
    let (header, marker, encoding) = match scheme.name() {
        "standard-webhooks" => ("webhook-signature", ",", Encoding::Base64),
        "stripe" => ("stripe-signature", "v1=", Encoding::Hex),
        "github" => ("x-hub-signature-256", "sha256=", Encoding::Hex),
        "slack" => ("x-slack-signature", "v0=", Encoding::Hex),
        "shopify" => ("x-shopify-hmac-sha256", "", Encoding::Base64),
        "acme" => ("x-acme-signature", "sig=", Encoding::Base64),
        other => panic!("{other}"),
    };
    Layout {
        header,
        marker,
        encoding,
    }
}

fn acme() -> Scheme {
    Scheme::custom("acme")
        .signature_header("x-acme-signature")
        .prefix("sig=")
        .encoding(Encoding::Base64)
        .timestamp_header("x-acme-timestamp")
        .id_header("x-acme-id")
        .signed_content("{timestamp}:{id}:{payload}")
        .build()
        .expect("scheme")
}

fn scheme_by_index(i: usize) -> Scheme {
    match i {
        0 => Scheme::standard_webhooks(),
        1 => Scheme::stripe(),
        2 => Scheme::github(),
        3 => Scheme::slack(),
        4 => Scheme::shopify(),
        _ => acme(),
    }
}

/// A key in the scheme's format made from `bytes` (16 to 48 of them).
fn key_for(scheme: &Scheme, bytes: &[u8]) -> String {
    if scheme.name() == "standard-webhooks" {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    } else {
        // Raw keys are text: map each byte to a printable character.
        bytes.iter().map(|b| char::from(b'!' + b % 90)).collect()
    }
}

/// `value` with bit `bit` of byte `byte` (modulo the signature's length) of its first signature flipped.
fn flip_signature_bit(value: &str, layout: &Layout, byte: usize, bit: u8) -> String {
    let start = value.find(layout.marker).expect("marker") + layout.marker.len();
    let end = value[start..]
        .find([',', ' '])
        .map_or(value.len(), |i| start + i);
    let text = &value[start..end];
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = match layout.encoding {
        Encoding::Hex => hex::decode(text).expect("hex"),
        _ => b64.decode(text).expect("base64"),
    };
    let at = byte % raw.len();
    raw[at] ^= 1 << (bit % 8);
    let encoded = match layout.encoding {
        Encoding::Hex => hex::encode(&raw),
        _ => b64.encode(&raw),
    };
    format!("{}{encoded}{}", &value[..start], &value[end..])
}

#[derive(Debug, Clone)]
enum PayloadChange {
    Flip { at: usize, bit: u8 },
    Insert { at: usize, byte: u8 },
    Remove { at: usize },
}

fn payload_change() -> impl Strategy<Value = PayloadChange> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, bit)| PayloadChange::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| PayloadChange::Insert { at, byte }),
        any::<usize>().prop_map(|at| PayloadChange::Remove { at }),
    ]
}

/// `payload` changed by `change`, or `None` when the change is a no-op (removing from an empty payload).
fn apply(payload: &[u8], change: &PayloadChange) -> Option<Vec<u8>> {
    let mut out = payload.to_vec();
    match *change {
        PayloadChange::Flip { at, bit } => {
            let len = out.len();
            let byte = out.get_mut(at.checked_rem(len)?)?;
            *byte ^= 1 << (bit % 8);
        }
        PayloadChange::Insert { at, byte } => out.insert(at % (out.len() + 1), byte),
        PayloadChange::Remove { at } => {
            let len = out.len();
            out.remove(at.checked_rem(len)?);
        }
    }
    Some(out)
}

fn id_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.:-]{1,48}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn hmac_schemes_round_trip_and_detect_changes(
        which in 0usize..6,
        key in proptest::collection::vec(any::<u8>(), 16..48),
        id in id_strategy(),
        timestamp in 0i64..=4_102_444_800,
        payload in proptest::collection::vec(any::<u8>(), 0..600),
        change in payload_change(),
        byte in any::<usize>(),
        bit in any::<u8>(),
    ) {
        let scheme = scheme_by_index(which);
        let key = key_for(&scheme, &key);
        let headers = common::signer(scheme.clone(), &[&key]).sign(&id, timestamp, &payload).expect("sign");
        let verifier = common::verifier(scheme.clone(), &[&key], timestamp);

        let verified = verifier.verify(&headers, &payload).expect("round trip");
        prop_assert_eq!(verified.timestamp(), scheme.has_timestamp().then_some(timestamp));
        if !matches!(scheme.name(), "stripe" | "slack") {
            prop_assert_eq!(verified.id(), Some(id.as_str()));
        }

        if let Some(changed) = apply(&payload, &change) {
            prop_assert_eq!(verifier.verify(&headers, &changed), Err(VerifyError::SignatureMismatch));
        }

        let layout = layout(&scheme);
        let value = common::value(&headers, layout.header);
        let tampered = flip_signature_bit(value, &layout, byte, bit);
        let request = common::with_header(&headers, layout.header, &tampered);
        prop_assert_eq!(verifier.verify(&request, &payload), Err(VerifyError::SignatureMismatch));
    }

    #[test]
    fn rotation_reports_the_signing_key(
        which in 0usize..6,
        keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 16..24), 2..5),
        signer_index in any::<usize>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let scheme = scheme_by_index(which);
        let keys: Vec<String> = keys.iter().map(|k| key_for(&scheme, k)).collect();
        prop_assume!(keys.iter().collect::<std::collections::HashSet<_>>().len() == keys.len());
        let signer_index = signer_index % keys.len();
        let headers = common::signer(scheme.clone(), &[&keys[signer_index]])
            .sign("msg_rotation", 1_700_000_000, &payload)
            .expect("sign");
        let all: Vec<&str> = keys.iter().map(String::as_str).collect();
        let verifier = common::verifier(scheme, &all, 1_700_000_000);
        prop_assert_eq!(verifier.verify(&headers, &payload).map(|v| v.key_index()), Ok(signer_index));
    }
}

#[cfg(feature = "ed25519")]
proptest! {
    // Ed25519 is slow in debug builds: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn ed25519_round_trips_and_detects_changes(
        seed in proptest::array::uniform32(any::<u8>()),
        id in id_strategy(),
        timestamp in 0i64..=4_102_444_800,
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        change in payload_change(),
        byte in any::<usize>(),
        bit in any::<u8>(),
    ) {
        let whsk = format!("whsk_{}", base64::engine::general_purpose::STANDARD.encode(seed));
        let scheme = Scheme::standard_webhooks();
        let headers = common::signer(scheme.clone(), &[&whsk]).sign(&id, timestamp, &payload).expect("sign");
        let value = common::value(&headers, "webhook-signature");
        prop_assert!(value.starts_with("v1a,"));
        let verifier = common::verifier(scheme, &[&whsk], timestamp);
        prop_assert_eq!(verifier.verify(&headers, &payload).map(|v| v.key_index()), Ok(0));
        if let Some(changed) = apply(&payload, &change) {
            prop_assert_eq!(verifier.verify(&headers, &changed), Err(VerifyError::SignatureMismatch));
        }
        let tampered = flip_signature_bit(value, &layout(&Scheme::standard_webhooks()), byte, bit);
        let request = common::with_header(&headers, "webhook-signature", &tampered);
        prop_assert_eq!(verifier.verify(&request, &payload), Err(VerifyError::SignatureMismatch));
    }
}
