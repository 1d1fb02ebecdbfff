//! Verification cost against its floor: raw HMAC-SHA256 (the `hmac` crate, keyed per call) over exactly the
//! bytes each scheme signs, beside `Verifier::verify` for Standard Webhooks, Stripe and GitHub, at 64 B,
//! 1 KiB, 64 KiB and 1 MiB. Requests are signed with the current time just before each measurement.
//!
//! The `standard-webhooks-breakdown-1024` group times the pieces of one verification apart (the MAC over
//! contiguous bytes and in pieces, the signature header's parsing, the header lookups, the clock).
//!
//! Run with: `cargo bench -p hookguard --bench verify -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use hookguard::{Scheme, Signer, Verifier};
use sha2::Sha256;

const SIZES: [usize; 4] = [64, 1024, 64 * 1024, 1024 * 1024];
const STANDARD_WEBHOOKS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STRIPE_SECRET: &str = "whsec_test_4eC39HqLyjWDarjtT1zdp7dc";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";

/// A JSON body of exactly `size` bytes.
fn payload(size: usize) -> Vec<u8> {
    let mut body = br#"{"type":"invoice.paid","data":""#.to_vec();
    body.resize(size - 2, b'x');
    body.extend_from_slice(br#""}"#);
    body
}

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// The floor: HMAC-SHA256 keyed for this call, over the signed bytes laid out in one buffer.
fn hmac_floor(key: &[u8], signed: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(signed);
    mac.finalize().into_bytes().into()
}

struct Case {
    group: &'static str,
    scheme: fn() -> Scheme,
    secret: &'static str,
    /// The HMAC key the scheme derives from `secret`.
    key: fn(&str) -> Vec<u8>,
    /// The bytes the scheme signs for (timestamp, payload).
    signed: fn(i64, &[u8]) -> Vec<u8>,
}

const CASES: [Case; 3] = [
    Case {
        group: "standard-webhooks",
        scheme: Scheme::standard_webhooks,
        secret: STANDARD_WEBHOOKS_SECRET,
        key: |s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim_start_matches("whsec_"))
                .expect("base64 secret")
        },
        signed: |ts, payload| [format!("{ID}.{ts}.").as_bytes(), payload].concat(),
    },
    Case {
        group: "stripe",
        scheme: Scheme::stripe,
        secret: STRIPE_SECRET,
        key: |s| s.as_bytes().to_vec(),
        signed: |ts, payload| [format!("{ts}.").as_bytes(), payload].concat(),
    },
    Case {
        group: "github",
        scheme: Scheme::github,
        secret: GITHUB_SECRET,
        key: |s| s.as_bytes().to_vec(),
        signed: |_, payload| payload.to_vec(),
    },
];

fn bench_verify(c: &mut Criterion) {
    for case in &CASES {
        let mut group = c.benchmark_group(case.group);
        for size in SIZES {
            let body = payload(size);
            group.throughput(Throughput::Bytes(size as u64));

            let key = (case.key)(case.secret);
            let signed = (case.signed)(now(), &body);
            group.bench_with_input(
                BenchmarkId::new("hmac-floor", size),
                &signed,
                |b, signed| {
                    b.iter(|| hmac_floor(black_box(&key), black_box(signed)));
                },
            );

            let signer = Signer::new((case.scheme)(), case.secret).expect("secret");
            let verifier = Verifier::new((case.scheme)(), case.secret).expect("secret");
            group.bench_with_input(BenchmarkId::new("hookguard", size), &body, |b, body| {
                let headers = signer.sign(ID, now(), body).expect("sign");
                verifier.verify(&headers, body).expect("verifies");
                b.iter(|| {
                    verifier
                        .verify(black_box(&headers), black_box(body))
                        .map(|v| v.key_index())
                });
            });
        }
        group.finish();
    }
}

/// Where a 1 KiB Standard Webhooks verification spends its time beyond the MAC, piece by piece.
fn bench_breakdown(c: &mut Criterion) {
    let mut group = c.benchmark_group("standard-webhooks-breakdown-1024");
    let body = payload(1024);
    let ts = now();
    let key = (CASES[0].key)(STANDARD_WEBHOOKS_SECRET);
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("any key length");
    let prefix = format!("{ID}.{ts}.");
    let signed = [prefix.as_bytes(), &body].concat();
    group.bench_function("mac-pre-keyed-contiguous", |b| {
        b.iter(|| {
            let mut mac = black_box(&keyed).clone();
            mac.update(black_box(&signed));
            mac.finalize().into_bytes()
        });
    });
    // What the verifier does: the signed content in pieces, never concatenated.
    group.bench_function("mac-pre-keyed-in-pieces", |b| {
        b.iter(|| {
            let mut mac = black_box(&keyed).clone();
            mac.update(black_box(prefix.as_bytes()));
            mac.update(black_box(&body));
            mac.finalize().into_bytes()
        });
    });
    let headers = Signer::new(Scheme::standard_webhooks(), STANDARD_WEBHOOKS_SECRET)
        .expect("secret")
        .sign(ID, ts, &body)
        .expect("sign");
    let signature = headers["webhook-signature"].as_bytes();
    group.bench_function("parse-signature-header", |b| {
        b.iter(|| hookguard::header::standard_webhooks(black_box(signature)).len());
    });
    group.bench_function("three-header-lookups", |b| {
        b.iter(|| {
            let h = black_box(&headers);
            ["webhook-signature", "webhook-id", "webhook-timestamp"]
                .map(|name| h.get_all(name).iter().count())
        });
    });
    group.bench_function("system-clock", |b| b.iter(now));
    group.finish();
}

criterion_group!(benches, bench_verify, bench_breakdown);
criterion_main!(benches);
