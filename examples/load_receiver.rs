//! Run with: `cargo run --release --example load_receiver -- serve verify` — the load-test target for the
//! receiver benchmark: one handler, bare (`bare`), behind the layer (`verify`), or behind the layer with
//! `MemoryStore` idempotency (`idempotent`), and with `--features redis,postgres` with `RedisStore`
//! (`redis`) or `PostgresStore` (`postgres`) idempotency against the local services.
//!
//! `load_receiver sign N > requests.txt` pre-signs N unique deliveries of one 1 KiB body (one
//! `id timestamp signature` line each) for `examples/load_signed.lua`:
//! ```sh
//! cargo run -q --release --example load_receiver -- sign 600000 > /tmp/requests.txt
//! taskset -c 0 target/release/examples/load_receiver serve verify &
//! taskset -c 1 wrk -t1 -c64 -d10s -s examples/load_signed.lua http://127.0.0.1:3100/ -- /tmp/requests.txt 1
//! ```
//! `load_receiver inproc N [mode]` calls the same apps in-process (no sockets) and prints ns per request.

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use hookguard::{Clock, Scheme, Signer, SystemClock, Verifier};
use hookguard_tower::WebhookLayer;
use hookguard_tower::store::MemoryStore;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The 1 KiB body every request carries (the Lua script builds the same one).
fn body() -> Vec<u8> {
    format!("{{\"data\":\"{}\"}}", "a".repeat(1011)).into_bytes()
}

async fn handler(body: Bytes) -> String {
    format!("ok {}", body.len())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["sign", n] => sign(n.parse()?),
        ["serve", mode] => serve(mode),
        ["inproc", n] => inproc(n.parse()?, &["bare", "verify", "idempotent"]),
        ["inproc", n, mode] => inproc(n.parse()?, &[mode]),
        _ => Err("usage: load_receiver sign N | serve bare|verify|idempotent|redis|postgres | inproc N [mode]".into()),
    }
}

fn sign(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Write;
    let signer = Signer::new(Scheme::standard_webhooks(), SECRET)?;
    let (body, now) = (body(), SystemClock.now_unix());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..n {
        let id = format!("msg_{i}");
        let headers = signer.sign(&id, now, &body)?;
        writeln!(out, "{id} {now} {}", headers["webhook-signature"].to_str()?)?;
    }
    Ok(())
}

fn serve(mode: &str) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = app(mode).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:3100").await?;
        axum::serve(listener, app).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

/// The same three apps called in-process (no sockets) with N unique signed requests each: the layer's cost
/// without the network's noise.
fn inproc(n: usize, modes: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    use tower::ServiceExt;
    let signer = Signer::new(Scheme::standard_webhooks(), SECRET)?;
    let (body, now) = (Bytes::from(body()), SystemClock.now_unix());
    let requests: Vec<http::Request<axum::body::Body>> = (0..n)
        .map(|i| {
            let headers = signer.sign(&format!("msg_{i}"), now, &body).expect("sign");
            let mut req = http::Request::post("/")
                .body(axum::body::Body::from(body.clone()))
                .expect("request");
            req.headers_mut().extend(headers);
            req
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for &mode in modes {
        let app = runtime.block_on(app(mode))?;
        let reqs: Vec<_> = requests.iter().map(clone_request).collect();
        let started = std::time::Instant::now();
        runtime.block_on(async {
            for req in reqs {
                let res = app.clone().oneshot(req).await.expect("infallible");
                assert!(res.status().is_success(), "{mode}: {}", res.status());
                let _ = axum::body::to_bytes(res.into_body(), usize::MAX).await;
            }
        });
        let ns = started.elapsed().as_nanos() / n as u128;
        println!("{mode}: {ns} ns/request over {n} unique requests");
    }
    Ok(())
}

fn clone_request(req: &http::Request<axum::body::Body>) -> http::Request<axum::body::Body> {
    let mut out = http::Request::post("/")
        .body(axum::body::Body::from(body()))
        .expect("request");
    *out.headers_mut() = req.headers().clone();
    out
}

async fn app(mode: &str) -> Result<Router, Box<dyn std::error::Error>> {
    // A long tolerance: the requests are signed before the runs start.
    let verifier =
        Verifier::new(Scheme::standard_webhooks(), SECRET)?.tolerance(Duration::from_secs(3600));
    let router = Router::new().route("/", post(handler));
    let router = match mode {
        "bare" => router,
        "verify" => router.layer(WebhookLayer::new(verifier)),
        "idempotent" => router
            .layer(WebhookLayer::new(verifier).idempotency(MemoryStore::with_max_bytes(2 << 30))),
        // The durable stores keep their records for 10 minutes only: a load run leaves nothing for long.
        #[cfg(feature = "redis")]
        "redis" => {
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let tag = hookguard_tower::store::Token::random().as_bytes()[0];
            let store = hookguard_tower::store::RedisStore::connect(&url)
                .await?
                .prefix(format!("hookguard-load:{tag:02x}:"));
            router.layer(
                WebhookLayer::new(verifier)
                    .idempotency(store)
                    .retention(Duration::from_secs(600)),
            )
        }
        #[cfg(feature = "postgres")]
        "postgres" => {
            let url = std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let store = hookguard_tower::store::PostgresStore::connect(&url)
                .await?
                .schema("hookguard_load")?;
            store.migrate().await?;
            // Every run sends the same ids: start from an empty table.
            sqlx::query("TRUNCATE hookguard_load.records")
                .execute(store.pool())
                .await?;
            router.layer(
                WebhookLayer::new(verifier)
                    .idempotency(store)
                    .retention(Duration::from_secs(600)),
            )
        }
        other => return Err(format!("unknown mode {other}").into()),
    };
    Ok(router)
}
