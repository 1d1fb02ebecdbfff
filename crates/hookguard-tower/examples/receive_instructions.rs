//! The receive path for counting instructions: `receive_instructions MODE N` sends N fresh 1 KiB Standard
//! Webhooks deliveries through one service, in-process, one at a time. Under `valgrind --tool=callgrind` the
//! count is the same from run to run whatever else the machine does, so the difference between two modes,
//! per delivery, shows changes of a few dozen instructions that timing on a shared machine cannot
//! (`benches/load/instructions.sh` runs the modes and prints it). Valgrind hides the SHA extensions from
//! `sha2`, so SHA-256 runs in software there: only differences without hashing in them compare with time.
//!
//! Modes: `verifying-handler` (the bare handler verifying the delivery itself), `verify` (the handler behind
//! `WebhookLayer`), `idempotent` (and a `MemoryStore` that never fills in a run), `fingerprint` (the SHA-256
//! fingerprint of the body alone, with the same signing around it) and `sign` (only the signing, which every
//! mode does for its deliveries).

use std::convert::Infallible;

use bytes::Bytes;
use hookguard::{Scheme, Verifier};
use hookguard_tower::store::MemoryStore;
use hookguard_tower::{WebhookLayer, fingerprint};
use tower::{Service, ServiceBuilder};

#[path = "../benches/support/receive.rs"]
mod receive;
use receive::{Deliveries, Request, SECRET, handler, run, verifying_handler};

/// N fresh deliveries, each handed to `deliver` with the body it carries.
fn deliveries(n: usize, mut deliver: impl FnMut(Request, &Bytes)) {
    let deliveries = Deliveries::new();
    for _ in 0..n {
        deliver(deliveries.request(), &deliveries.body);
    }
}

fn through<S, B>(n: usize, service: &S) -> Result<(), Box<dyn std::error::Error>>
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    deliveries(n, |req, _| run(&runtime, service, req));
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, n) = match &args[..] {
        [mode, n] => (mode.as_str(), n.parse()?),
        _ => {
            return Err(
                "usage: receive_instructions verifying-handler|verify|idempotent|fingerprint|sign N"
                    .into(),
            );
        }
    };
    let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET)?;
    match mode {
        "verifying-handler" => {
            let verifying = tower::service_fn(move |req| verifying_handler(verifier.clone(), req));
            through(n, &verifying)
        }
        "verify" => through(
            n,
            &ServiceBuilder::new()
                .layer(WebhookLayer::new(verifier))
                .service_fn(handler),
        ),
        "idempotent" => through(
            n,
            &ServiceBuilder::new()
                .layer(
                    WebhookLayer::new(verifier).idempotency(MemoryStore::with_max_bytes(8 << 30)),
                )
                .service_fn(handler),
        ),
        "fingerprint" => {
            deliveries(n, |req, body| {
                std::hint::black_box((fingerprint(body), req));
            });
            Ok(())
        }
        "sign" => {
            deliveries(n, |req, _| {
                std::hint::black_box(req);
            });
            Ok(())
        }
        other => Err(format!("unknown mode {other}").into()),
    }
}
