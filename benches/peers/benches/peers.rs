//! Standard Webhooks verification, in one run: the HMAC-SHA256 floor (the `hmac` crate, keyed per call, over
//! exactly the signed bytes), hookguard, the `svix` crate and the `standardwebhooks` crate, on the same
//! headers and JSON bodies of 64 B, 1 KiB, 64 KiB and 1 MiB, signed with the current time. Every verifier
//! is asserted to accept the request before it is timed.
//!
//! Run with (from benches/peers): `cargo bench --bench peers -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use hookguard::{Scheme, Signer, Verifier};
use sha2::Sha256;

const SIZES: [usize; 4] = [64, 1024, 64 * 1024, 1024 * 1024];
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";

/// A JSON body of exactly `size` bytes (ASCII, since svix requires UTF-8 payloads).
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

fn hmac_floor(key: &[u8], signed: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(signed);
    mac.finalize().into_bytes().into()
}

fn bench_peers(c: &mut Criterion) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .expect("base64 secret");
    let signer = Signer::new(Scheme::standard_webhooks(), SECRET).expect("secret");
    let ours = Verifier::new(Scheme::standard_webhooks(), SECRET).expect("secret");
    let svix = svix::webhooks::Webhook::new(SECRET).expect("secret");
    let standard = standardwebhooks::Webhook::new(SECRET).expect("secret");

    let mut group = c.benchmark_group("standard-webhooks-peers");
    for size in SIZES {
        let body = payload(size);
        group.throughput(Throughput::Bytes(size as u64));

        // Signed now, just before this size's measurements; every peer must accept it and agree on the tag.
        let timestamp = now();
        let headers = signer.sign(ID, timestamp, &body).expect("sign");
        let sent = headers["webhook-signature"].to_str().expect("ASCII");
        assert_eq!(svix.sign(ID, timestamp, &body).expect("svix signs"), sent);
        assert_eq!(
            standard
                .sign(ID, timestamp, &body)
                .expect("standardwebhooks signs"),
            sent
        );
        ours.verify(&headers, &body).expect("hookguard accepts");
        svix.verify(&body, &headers).expect("svix accepts");
        standard
            .verify(&body, &headers)
            .expect("standardwebhooks accepts");

        let signed = [format!("{ID}.{timestamp}.").as_bytes(), &body[..]].concat();
        group.bench_with_input(
            BenchmarkId::new("hmac-floor", size),
            &signed,
            |b, signed| {
                b.iter(|| hmac_floor(black_box(&key), black_box(signed)));
            },
        );
        group.bench_with_input(BenchmarkId::new("hookguard", size), &body, |b, body| {
            b.iter(|| {
                ours.verify(black_box(&headers), black_box(body))
                    .map(|v| v.key_index())
            });
        });
        group.bench_with_input(BenchmarkId::new("svix", size), &body, |b, body| {
            b.iter(|| svix.verify(black_box(body), black_box(&headers)).is_ok());
        });
        group.bench_with_input(
            BenchmarkId::new("standardwebhooks", size),
            &body,
            |b, body| {
                b.iter(|| {
                    standard
                        .verify(black_box(body), black_box(&headers))
                        .is_ok()
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_peers);
criterion_main!(benches);
