//! Run with: cargo run --example sender [-- --ops-addr 127.0.0.1:9464 --serve --queue URL]
//!
//! `--queue` picks the queue at run time (through `BoxedQueue::open`): `memory:` (the default),
//! `postgres://…` (migrated into the schema `hookguard_queue`) or `redis://…` (keys under `{hookguard:queue}`);
//! the durable ones need `--features postgres` / `--features redis` (on under `--all-features`).
//!
//! Delivers signed webhooks to two subscribers started in this process: `billing` (healthy, subscribed to
//! `invoice.paid` only) and `crm` (subscribed to everything, fails its first two requests with 503). Each
//! receiver verifies the signature with `hookguard::Verifier`. The sender retries `crm` with backoff, then
//! prints every job's attempt history and the sender's Prometheus metrics.
//!
//! The operations listener (`--ops-addr`, default a free loopback port) serves `/metrics` in Prometheus text
//! format and, when `HOOKGUARD_ADMIN_TOKEN` is set (16+ characters), the admin router under `/admin` (the
//! operator's page at `/admin/`, the JSON API at `/admin/api/…`, e.g. for `hookguard dlq list`). `--serve`
//! keeps it running after the demo until Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::routing::post;
use hookguard::{Scheme, Verifier};
use hookguard_sender::admin::{Admin, AdminToken};
use hookguard_sender::metrics::{DELIVERY_SECONDS, DELIVERY_SECONDS_BUCKETS};
use hookguard_sender::{BoxedQueue, Endpoint, Event, Queue, RetryPolicy, Sender};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Subscriber {
    name: &'static str,
    verifier: Verifier,
    fail_first: usize,
    seen: AtomicUsize,
}

async fn receive(
    State(sub): State<Arc<Subscriber>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = sub.seen.fetch_add(1, Ordering::SeqCst);
    let verified = match sub.verifier.verify(&headers, &body) {
        Ok(v) => v.into_owned(),
        Err(e) => {
            println!("  [{}] rejected: {e}", sub.name);
            return StatusCode::UNAUTHORIZED;
        }
    };
    let id = verified.id().unwrap_or("?");
    if n < sub.fail_first {
        println!(
            "  [{}] {id}: verified, but answering 503 (request {})",
            sub.name,
            n + 1
        );
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    println!("  [{}] {id}: verified, {} bytes", sub.name, body.len());
    StatusCode::NO_CONTENT
}

async fn start_subscriber(
    name: &'static str,
    fail_first: usize,
) -> Result<String, Box<dyn std::error::Error>> {
    let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET)?;
    let sub = Arc::new(Subscriber {
        name,
        verifier,
        fail_first,
        seen: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/webhooks", post(receive))
        .with_state(sub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// `--ops-addr A`, `--serve` and `--queue URL`.
fn args() -> Result<(std::net::SocketAddr, bool, String), Box<dyn std::error::Error>> {
    let (mut addr, mut serve) = (std::net::SocketAddr::from(([127, 0, 0, 1], 0)), false);
    let mut queue = String::from("memory:");
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--ops-addr" => {
                let value = it.next().ok_or("--ops-addr needs an address")?;
                addr = value
                    .parse()
                    .map_err(|_| format!("--ops-addr: not an address: `{value}`"))?;
            }
            "--serve" => serve = true,
            "--queue" => queue = it.next().ok_or("--queue needs a URL")?,
            other => {
                return Err(format!(
                    "unexpected `{other}`; usage: sender [--ops-addr 127.0.0.1:9464] [--serve] \
                     [--queue memory:|postgres://…|redis://…]"
                )
                .into());
            }
        }
    }
    Ok((addr, serve, queue))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (ops_addr, serve, queue_url) = args()?;
    // The delivery latency histogram gets explicit buckets.
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DELIVERY_SECONDS.into()),
            DELIVERY_SECONDS_BUCKETS,
        )?
        .install_recorder()?;

    let billing = start_subscriber("billing", 0).await?;
    let crm = start_subscriber("crm", 2).await?;

    // Endpoints normally come from configuration (Endpoint implements serde's Deserialize).
    let queue = BoxedQueue::open(&queue_url, None).await?;
    let sender = Sender::builder(queue)
        .endpoint(Endpoint::new("billing", billing, SECRET).with_event_types(["invoice.paid"]))
        .endpoint(Endpoint::new("crm", crm, SECRET))
        // Short backoff for the demo: 200 ms doubling up to 2 s, 5 attempts.
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(200),
            2.0,
            Duration::from_secs(2),
            5,
        ))
        .poll_interval(Duration::from_millis(20))
        // The receivers listen on 127.0.0.1, which the SSRF guard refuses by default.
        .allow_private_networks()
        .build()?;
    let workers = sender.spawn();

    // The operations listener: /metrics, and the admin router when a token is configured. Keep it internal.
    let metrics = prometheus.clone();
    let mut ops = Router::new().route(
        "/metrics",
        get(move || std::future::ready(metrics.render())),
    );
    let admin = match std::env::var("HOOKGUARD_ADMIN_TOKEN") {
        Ok(token) => {
            let token =
                AdminToken::new(token).map_err(|e| format!("HOOKGUARD_ADMIN_TOKEN: {e}"))?;
            ops = ops.merge(Admin::new(&sender, token).base_path("/admin").router());
            true
        }
        Err(_) => false,
    };
    let listener = tokio::net::TcpListener::bind(ops_addr).await?;
    let ops_addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, ops).await });
    println!("metrics: http://{ops_addr}/metrics");
    if admin {
        println!("admin:   http://{ops_addr}/admin/ (JSON API under /admin/api)");
    } else {
        println!("admin:   off (set HOOKGUARD_ADMIN_TOKEN to a 16+ character token to mount it)");
    }

    let mut jobs = Vec::new();
    for n in 1..=2 {
        let payload = format!(
            r#"{{"type":"invoice.paid","invoice":"in_{n}","amount":{}}}"#,
            n * 1000
        );
        let enqueued = sender.publish("invoice.paid", payload).await?;
        println!(
            "published invoice.paid #{n} → {:?}",
            enqueued.iter().map(|e| &e.endpoint_id).collect::<Vec<_>>()
        );
        jobs.extend(enqueued);
    }
    let enqueued = sender
        .publish_event(Event::new("user.created", r#"{"user":"u_1"}"#).with_id("evt_user_1"))
        .await?;
    println!(
        "published user.created → {:?}",
        enqueued.iter().map(|e| &e.endpoint_id).collect::<Vec<_>>()
    );
    jobs.extend(enqueued);

    // Wait (at most 10 s) until every job is delivered or dead-lettered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats = sender.queue().stats(sender.now()).await?;
        if stats.due + stats.scheduled + stats.in_flight == 0
            || tokio::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let workers = if serve {
        Some(workers)
    } else {
        workers.shutdown(Duration::from_secs(5)).await;
        None
    };

    println!("\noutcomes:");
    for e in &jobs {
        let Some(record) = sender.queue().get(e.job_id).await? else {
            continue;
        };
        let history: Vec<String> = record
            .attempts
            .iter()
            .map(|a| format!("{} in {:?}", a.result, a.latency))
            .collect();
        let state = &record.state;
        println!(
            "  {} {} → {}: {state}; attempts: {}",
            record.job.id,
            record.job.event_id,
            e.endpoint_id,
            history.join(", ")
        );
    }

    println!("\nmetrics:");
    for line in prometheus
        .render()
        .lines()
        .filter(|l| l.starts_with("hookguard_") && !l.contains("_bucket"))
    {
        println!("  {line}");
    }
    if let Some(workers) = workers {
        println!("\nserving http://{ops_addr}/metrics until Ctrl-C");
        tokio::signal::ctrl_c().await?;
        workers.shutdown(Duration::from_secs(5)).await;
    }
    Ok(())
}
