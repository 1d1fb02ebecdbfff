//! Every scheme's header parser on arbitrary bytes: never panics, and agrees with a plain allocating
//! re-implementation of the rules written here (entry limits, versions, encodings, exact tag lengths).
#![no_main]

use base64::Engine as _;
use hookguard::Encoding;
use hookguard::header::{self, Algorithm, Candidates, MAX_CANDIDATES};
use libfuzzer_sys::fuzz_target;

/// Candidates as (algorithm, bytes), after checking the container's own bookkeeping.
fn listed(found: &Candidates) -> Vec<(Algorithm, Vec<u8>)> {
    let items: Vec<_> = found
        .iter()
        .map(|c| (c.algorithm, c.bytes().to_vec()))
        .collect();
    assert_eq!(items.len(), found.len());
    assert_eq!(found.is_empty(), items.is_empty());
    assert!(found.len() <= MAX_CANDIDATES);
    for (algorithm, bytes) in &items {
        assert_eq!(bytes.len(), algorithm.signature_len());
    }
    items
}

fn decode_base64(text: &[u8], len: usize) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    engine.decode(text).ok().filter(|b| b.len() == len)
}

fn decode(text: &[u8], len: usize, encoding: Encoding) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => hex::decode(text).ok().filter(|b| b.len() == len),
        _ => decode_base64(text, len),
    }
}

fn reference_timestamp(value: &[u8]) -> Option<i64> {
    // Digits only (no sign), at most 18 of them.
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn reference_standard_webhooks(value: &[u8]) -> Vec<(Algorithm, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in value
        .split(|&b| b == b' ')
        .filter(|e| !e.is_empty())
        .take(MAX_CANDIDATES)
    {
        let Some(comma) = entry.iter().position(|&b| b == b',') else {
            continue;
        };
        let algorithm = match &entry[..comma] {
            b"v1" => Algorithm::HmacSha256,
            b"v1a" => Algorithm::Ed25519,
            _ => continue,
        };
        if let Some(bytes) = decode_base64(&entry[comma + 1..], algorithm.signature_len()) {
            out.push((algorithm, bytes));
        }
    }
    out
}

type StripeParts<'a> = (&'a [u8], Vec<(Algorithm, Vec<u8>)>);

fn reference_stripe(value: &[u8]) -> Option<StripeParts<'_>> {
    let mut t = None;
    let mut sigs = Vec::new();
    for item in value.split(|&b| b == b',').take(2 * MAX_CANDIDATES + 1) {
        let item = item.trim_ascii();
        let Some(eq) = item.iter().position(|&b| b == b'=') else {
            continue;
        };
        match &item[..eq] {
            b"t" if t.is_some() => return None,
            b"t" => t = Some(&item[eq + 1..]),
            b"v1" => {
                if let Some(bytes) = decode(&item[eq + 1..], 32, Encoding::Hex)
                    && sigs.len() < MAX_CANDIDATES
                {
                    sigs.push((Algorithm::HmacSha256, bytes));
                }
            }
            _ => {}
        }
    }
    let t = t?;
    reference_timestamp(t)?;
    Some((t, sigs))
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(header::timestamp(data), reference_timestamp(data));

    let found = header::standard_webhooks(data);
    assert_eq!(listed(&found), reference_standard_webhooks(data));

    match (header::stripe(data), reference_stripe(data)) {
        (None, None) => {}
        (Some(parsed), Some((t, sigs))) => {
            assert_eq!(parsed.timestamp, t);
            assert!(header::timestamp(parsed.timestamp).is_some());
            assert_eq!(listed(&parsed.signatures), sigs);
        }
        (ours, reference) => panic!("stripe: parser {ours:?}, reference {reference:?}"),
    }

    // The prefixes the presets use, plus one taken from the input itself.
    let own_prefix = &data[..data.iter().position(|&b| b == b'=').map_or(0, |i| i + 1)];
    for prefix in [&b"sha256="[..], b"v0=", b"", own_prefix] {
        for encoding in [Encoding::Hex, Encoding::Base64] {
            let ours = header::single(data, prefix, encoding);
            let reference = data
                .trim_ascii()
                .strip_prefix(prefix)
                .and_then(|tag| decode(tag, 32, encoding));
            assert_eq!(ours.map(|c| c.bytes().to_vec()), reference);
            if let Some(c) = ours {
                assert_eq!(c.algorithm, Algorithm::HmacSha256);
                // A parsed tag decodes again from its canonical encoding.
                let text = match encoding {
                    Encoding::Hex => hex::encode(c.bytes()),
                    _ => base64::engine::general_purpose::STANDARD.encode(c.bytes()),
                };
                let again =
                    header::Candidate::decode(Algorithm::HmacSha256, text.as_bytes(), encoding);
                assert_eq!(again, Some(c));
            }
        }
    }
});
