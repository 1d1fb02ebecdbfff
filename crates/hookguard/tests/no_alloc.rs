//! Verifying never allocates: every scheme, on success and on mismatch (and on the other refusals), runs
//! `Verifier::verify` inside a counting global allocator's region that must record no allocation at all.
//!
//! The whole file is one test so that no other test thread allocates while a region is open.

mod common;

use std::alloc::System;

use hookguard::{Encoding, Scheme, Verifier};
use http::HeaderMap;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const NOW: i64 = 1_700_000_000;
const PAYLOAD: &[u8] = br#"{"type":"order.created","data":{"id":"ord_1","total":1999}}"#;

struct Case {
    label: String,
    verifier: Verifier,
    headers: HeaderMap,
    payload: Vec<u8>,
    expect: Result<(), &'static str>,
}

fn case(
    label: &str,
    verifier: &Verifier,
    headers: &HeaderMap,
    payload: &[u8],
    expect: Result<(), &'static str>,
) -> Case {
    Case {
        label: label.to_owned(),
        verifier: verifier.clone(),
        headers: headers.clone(),
        payload: payload.to_vec(),
        expect,
    }
}

/// Success, mismatch and the other refusals for `scheme` signed and verified with `keys`.
fn cases_for(scheme: &Scheme, keys: &[&str], out: &mut Vec<Case>) {
    let name = scheme.name();
    let signed = common::signer(scheme.clone(), keys)
        .sign("msg_alloc", NOW, PAYLOAD)
        .expect("sign");
    let verifier = common::verifier(scheme.clone(), keys, NOW);
    out.push(case(
        &format!("{name}: valid"),
        &verifier,
        &signed,
        PAYLOAD,
        Ok(()),
    ));
    out.push(case(
        &format!("{name}: mismatch"),
        &verifier,
        &signed,
        b"{}",
        Err("signature-mismatch"),
    ));
    out.push(case(
        &format!("{name}: no headers"),
        &verifier,
        &HeaderMap::new(),
        PAYLOAD,
        Err("missing-header"),
    ));
    let mut twice = signed.clone();
    for (n, v) in &signed {
        twice.append(n.clone(), v.clone());
    }
    out.push(case(
        &format!("{name}: duplicated"),
        &verifier,
        &twice,
        PAYLOAD,
        Err("malformed-header"),
    ));
    if scheme.has_timestamp() {
        let late = common::verifier(scheme.clone(), keys, NOW + 3600);
        out.push(case(
            &format!("{name}: stale"),
            &late,
            &signed,
            PAYLOAD,
            Err("timestamp-too-old"),
        ));
        let early = common::verifier(scheme.clone(), keys, NOW - 3600);
        out.push(case(
            &format!("{name}: future"),
            &early,
            &signed,
            PAYLOAD,
            Err("timestamp-too-new"),
        ));
    }
    // A rotated verifier whose matching key comes second.
    let other = if name == "standard-webhooks" {
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    } else {
        "another-secret-0123456789"
    };
    let mut rotated_keys = vec![other];
    rotated_keys.extend_from_slice(keys);
    let rotated = common::verifier(scheme.clone(), &rotated_keys, NOW);
    out.push(case(
        &format!("{name}: rotated"),
        &rotated,
        &signed,
        PAYLOAD,
        Ok(()),
    ));
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (scheme, secret) in common::presets() {
        cases_for(&scheme, &[secret], &mut cases);
    }
    // Svix's header names.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let signed = common::signer(Scheme::standard_webhooks(), &[secret])
        .sign("msg_svix", NOW, PAYLOAD)
        .expect("sign");
    let svix = common::headers(&[
        ("svix-id", common::value(&signed, "webhook-id")),
        (
            "svix-timestamp",
            common::value(&signed, "webhook-timestamp"),
        ),
        (
            "svix-signature",
            common::value(&signed, "webhook-signature"),
        ),
    ]);
    let verifier = common::verifier(Scheme::standard_webhooks(), &[secret], NOW);
    cases.push(case("svix names", &verifier, &svix, PAYLOAD, Ok(())));
    // Sixteen candidates, the match last.
    let many = format!(
        "{} {}",
        vec!["v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="; 15].join(" "),
        common::value(&signed, "webhook-signature")
    );
    let crowded = common::with_header(&signed, "webhook-signature", &many);
    cases.push(case(
        "sixteen candidates",
        &verifier,
        &crowded,
        PAYLOAD,
        Ok(()),
    ));

    // Custom schemes, whose header names are not compile-time constants.
    let custom = Scheme::custom("acme")
        .signature_header("x-acme-signature")
        .prefix("sha256=")
        .encoding(Encoding::Base64)
        .timestamp_header("x-acme-timestamp")
        .id_header("x-acme-id")
        .signed_content("{id}.{timestamp}.{payload}")
        .build()
        .expect("scheme");
    cases_for(&custom, &["acme-secret-0123456789"], &mut cases);

    #[cfg(feature = "ed25519")]
    {
        use base64::Engine as _;
        let sw = Scheme::standard_webhooks();
        let b64 = |hex_text: &str| {
            base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_text).expect("hex"))
        };
        // RFC 8032, section 7.1, TEST 1.
        let whsk = format!(
            "whsk_{}",
            b64("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        );
        let whpk = format!(
            "whpk_{}",
            b64("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        let signed = common::signer(sw.clone(), &[&whsk])
            .sign("msg_ed", NOW, PAYLOAD)
            .expect("sign");
        for (label, key) in [("ed25519 public key", &whpk), ("ed25519 secret key", &whsk)] {
            let verifier = common::verifier(sw.clone(), &[key], NOW);
            cases.push(case(
                &format!("{label}: valid"),
                &verifier,
                &signed,
                PAYLOAD,
                Ok(()),
            ));
            cases.push(case(
                &format!("{label}: mismatch"),
                &verifier,
                &signed,
                b"{}",
                Err("signature-mismatch"),
            ));
        }
        let both = common::signer(sw.clone(), &[secret, &whsk])
            .sign("msg_ed", NOW, PAYLOAD)
            .expect("sign");
        let verifier = common::verifier(sw, &[&whpk, secret], NOW);
        cases.push(case(
            "ed25519 and hmac: valid",
            &verifier,
            &both,
            PAYLOAD,
            Ok(()),
        ));
        cases.push(case(
            "ed25519 and hmac: mismatch",
            &verifier,
            &both,
            b"{}",
            Err("signature-mismatch"),
        ));
    }
    cases
}

#[test]
fn verify_does_not_allocate() {
    // The counter works: an allocation inside a region is seen.
    let region = Region::new(GLOBAL);
    drop(std::hint::black_box(vec![1u8; 64]));
    assert!(
        region.change().allocations >= 1,
        "the counting allocator is not installed"
    );

    // A custom scheme's header names are built at run time: even the very first error that names one, with no
    // warm-up, must not allocate.
    let fresh = Scheme::custom("fresh")
        .signature_header("x-fresh-signature")
        .timestamp_header("x-fresh-timestamp")
        .signed_content("{timestamp}.{payload}")
        .build()
        .expect("scheme");
    let verifier = common::verifier(fresh, &["fresh-secret-0123456789"], NOW);
    let empty = HeaderMap::new();
    let region = Region::new(GLOBAL);
    let first = verifier
        .verify(&empty, PAYLOAD)
        .map(|_| ())
        .map_err(|e| e.kind());
    let stats = region.change();
    assert_eq!(first, Err("missing-header"));
    assert_eq!(
        stats.allocations + stats.reallocations,
        0,
        "first error: {stats:?}"
    );

    let cases = all_cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut allocating = Vec::new();
    for c in &cases {
        // Once outside the region, so one-time initialisation (CPU feature detection) is not counted, and to
        // check the outcome.
        let outcome = c
            .verifier
            .verify(&c.headers, &c.payload)
            .map(|_| ())
            .map_err(|e| e.kind());
        assert_eq!(outcome, c.expect, "{}", c.label);

        // The counter is process-wide, and the test harness's own thread may allocate now and then while a
        // region is open. An allocation by `verify` shows in every attempt; the harness's noise does not, so the
        // quietest of a few attempts is what counts.
        let quietest = (0..5)
            .map(|_| {
                let region = Region::new(GLOBAL);
                for _ in 0..3 {
                    let result = c.verifier.verify(&c.headers, &c.payload);
                    drop(std::hint::black_box(result));
                }
                region.change()
            })
            .min_by_key(|s| s.allocations + s.reallocations)
            .expect("attempts");
        if quietest.allocations + quietest.reallocations != 0 {
            allocating.push(format!("{}: {quietest:?}", c.label));
        }
    }
    assert!(
        allocating.is_empty(),
        "verify allocated:\n{}",
        allocating.join("\n")
    );
    println!("{} cases verified without allocating", cases.len());
}
