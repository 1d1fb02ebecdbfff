//! Sign → verify round-trips for arbitrary ids, timestamps, payloads and schemes (custom schemes built from
//! the input too), and every single alteration fails: a flipped payload byte, a flipped tag byte, another
//! timestamp or id, a clock outside the tolerance.
//!
//! Input: fixture byte, flags byte, flip position (u16 LE), flip mask, timestamp (i64 LE), then the id up to
//! `\n`, and the payload. For the custom fixture, a prefix line and a template line come before the payload.
#![no_main]

use hookguard::header;
use hookguard::{Encoding, FixedClock, Scheme, SignError, Verifier, VerifyError};
use hookguard_fuzz::{FIXTURES, Fixture, Reader, TOLERANCE, TagFormat, rewrite_tags};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// A scheme described by the input: signature header, prefix, encoding, template over id/timestamp/payload.
fn custom_fixture(reader: &mut Reader<'_>, flags: u8) -> Option<Fixture> {
    let prefix = String::from_utf8_lossy(reader.line()).into_owned();
    let template = String::from_utf8_lossy(reader.line()).into_owned();
    let encoding = if flags & 2 == 0 {
        Encoding::Hex
    } else {
        Encoding::Base64
    };
    let scheme = Scheme::custom("fuzzed")
        .signature_header("x-fuzzed-signature")
        .prefix(&prefix)
        .encoding(encoding)
        .timestamp_header("x-fuzzed-timestamp")
        .id_header("x-fuzzed-id")
        .signed_content(&template)
        .build()
        .ok()?;
    let keys = vec![
        "fuzzed_secret_0123456789abcdef".to_owned(),
        "fuzzed_rotated_0123456789abcd".to_owned(),
    ];
    Some(Fixture {
        label: "fuzzed",
        scheme,
        signing_keys: keys.clone(),
        verifying_keys: keys,
        unrelated_key: "fuzzed_unrelated_0123456789abc".to_owned(),
        signature_header: http::HeaderName::from_static("x-fuzzed-signature"),
        id_header: Some(http::HeaderName::from_static("x-fuzzed-id")),
        timestamp_header: Some(http::HeaderName::from_static("x-fuzzed-timestamp")),
        signs_timestamp: template.contains("{timestamp}"),
        signs_id: template.contains("{id}"),
        tags: TagFormat::Single { prefix, encoding },
    })
}

fn with_value(headers: &HeaderMap, name: &http::HeaderName, value: &str) -> HeaderMap {
    let mut altered = headers.clone();
    altered.insert(
        name.clone(),
        HeaderValue::from_str(value).expect("a value the signer could write"),
    );
    altered
}

fuzz_target!(|data: &[u8]| {
    let mut reader = Reader::new(data);
    let selector = usize::from(reader.byte());
    let flags = reader.byte();
    let position = usize::from(reader.u16());
    let mask = reader.byte().max(1);
    let timestamp = reader.i64();
    let id = String::from_utf8_lossy(reader.line()).into_owned();

    let custom;
    let fixture = if selector % (FIXTURES.len() + 1) == FIXTURES.len() {
        let Some(f) = custom_fixture(&mut reader, flags) else {
            return;
        };
        custom = f;
        &custom
    } else {
        &FIXTURES[selector % (FIXTURES.len() + 1)]
    };
    let payload = reader.rest();
    let key_count = if flags & 1 == 0 { 1 } else { 2 };

    // Sign. Refusals are typed and only for what the signer documents.
    let signed = fixture.signer(key_count).sign(&id, timestamp, payload);
    let headers = match signed {
        Ok(headers) => headers,
        Err(SignError::InvalidTimestamp) => {
            assert!(
                !(0..=header::MAX_TIMESTAMP).contains(&timestamp),
                "timestamp {timestamp} refused"
            );
            return;
        }
        Err(SignError::InvalidId) => {
            let plain =
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            assert!(
                fixture.id_header.is_some() && !plain,
                "{}: id {id:?} refused",
                fixture.label
            );
            return;
        }
        Err(e) => panic!("{}: unexpected {e:?}", fixture.label),
    };
    assert!(
        (0..=header::MAX_TIMESTAMP).contains(&timestamp),
        "timestamp {timestamp} signed"
    );

    // Verify with the same keys at the signing time.
    let verifier = fixture.verifier(&fixture.verifying_keys[..key_count], timestamp);
    let verified = match verifier.verify(&headers, payload) {
        Ok(v) => v,
        Err(e) => panic!(
            "{}: round-trip failed with {e:?} (id {id:?}, timestamp {timestamp}, headers {headers:?})",
            fixture.label
        ),
    };
    assert_eq!(verified.key_index(), 0);
    assert_eq!(verified.scheme(), fixture.scheme.name());
    if fixture.id_header.is_some() {
        assert_eq!(verified.id(), Some(id.as_str()));
    }
    let has_timestamp =
        fixture.timestamp_header.is_some() || matches!(fixture.tags, TagFormat::Stripe);
    assert_eq!(verified.timestamp(), has_timestamp.then_some(timestamp));

    // Rotation: behind an unrelated key, the first key matches as index 1.
    let rotated = fixture.verifier(
        &[
            fixture.unrelated_key.clone(),
            fixture.verifying_keys[0].clone(),
        ],
        timestamp,
    );
    assert_eq!(
        rotated.verify(&headers, payload).map(|v| v.key_index()),
        Ok(1)
    );
    let unrelated = fixture.verifier(std::slice::from_ref(&fixture.unrelated_key), timestamp);
    assert_eq!(
        unrelated.verify(&headers, payload),
        Err(VerifyError::SignatureMismatch)
    );

    // A flipped payload byte, or one byte more.
    let mut tampered = payload.to_vec();
    match tampered.get_mut(position % payload.len().max(1)) {
        Some(b) => *b ^= mask,
        None => tampered.push(mask),
    }
    assert_eq!(
        verifier.verify(&headers, &tampered),
        Err(VerifyError::SignatureMismatch)
    );

    // A flipped byte in every tag.
    let name = &fixture.signature_header;
    let value = std::str::from_utf8(headers[name].as_bytes()).expect("the signer writes UTF-8");
    let flipped = rewrite_tags(value, &fixture.tags, |bytes| {
        let i = position % bytes.len();
        bytes[i] ^= mask;
    })
    .unwrap_or_else(|| {
        panic!(
            "{}: signer wrote a tag that does not decode: {value:?}",
            fixture.label
        )
    });
    assert_eq!(
        verifier.verify(&with_value(&headers, name, &flipped), payload),
        Err(VerifyError::SignatureMismatch),
        "{}: flipped tag accepted: {flipped:?}",
        fixture.label
    );

    // Another timestamp, still within the tolerance, breaks a signature that covers it.
    if fixture.signs_timestamp
        && let Some(later) = timestamp.checked_add(1)
    {
        let later_text = later.to_string();
        let altered = match (&fixture.tags, &fixture.timestamp_header) {
            (TagFormat::Stripe, _) => {
                let v = value.replacen(&format!("t={timestamp}"), &format!("t={later_text}"), 1);
                with_value(&headers, name, &v)
            }
            (_, Some(ts_name)) => with_value(&headers, ts_name, &later_text),
            (_, None) => unreachable!("a signed timestamp lives somewhere"),
        };
        match verifier.verify(&altered, payload) {
            Err(VerifyError::SignatureMismatch) => {}
            // 19-digit timestamps are refused as malformed by the verifier.
            Err(VerifyError::MalformedHeader(_)) if later_text.len() > 18 => {}
            other => panic!(
                "{}: timestamp {later} accepted or odd: {other:?}",
                fixture.label
            ),
        }
    }

    // Another id breaks a signature that covers it.
    if fixture.signs_id
        && let Some(id_name) = &fixture.id_header
    {
        let other_id = format!("{id}x");
        let altered = with_value(&headers, id_name, &other_id);
        assert_eq!(
            verifier.verify(&altered, payload),
            Err(VerifyError::SignatureMismatch)
        );
    }

    // The clock outside the tolerance, both ways: refused for timestamped schemes, ignored otherwise.
    for (now, error) in [
        (
            timestamp.checked_add(TOLERANCE + 1),
            VerifyError::TimestampTooOld,
        ),
        (
            timestamp.checked_sub(TOLERANCE + 1),
            VerifyError::TimestampTooNew,
        ),
    ] {
        let Some(now) = now else { continue };
        let late = verifier.clone().with_clock(FixedClock(now));
        let expected = if has_timestamp { Err(error) } else { Ok(0) };
        assert_eq!(
            late.verify(&headers, payload).map(|v| v.key_index()),
            expected,
            "{}",
            fixture.label
        );
        let lenient: Verifier = late.with_insecure_skip_timestamp_check();
        assert_eq!(
            lenient.verify(&headers, payload).map(|v| v.key_index()),
            Ok(0)
        );
    }
});
