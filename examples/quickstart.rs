//! Run with: `cargo run --example quickstart` — the whole path in one process, in memory: a `Sender`
//! publishes events, and its workers sign them and POST them to an axum app guarded by `WebhookLayer` with
//! `MemoryStore` idempotency.
//!
//! Along the way:
//! - a subscriber that fails twice and gets retries;
//! - a sender with the wrong secret, refused with 401 and dead-lettered;
//! - an endpoint whose 404 dead-letters its job, replayed from the dead-letter queue (the layer replays the
//!   stored 404 without running the handler again).
//!
//! It checks what it prints: a broken guarantee exits non-zero.
//!
//! With `--metrics-addr 127.0.0.1:9464` it also serves the sender's and the receiver's metrics in Prometheus
//! text format at `http://127.0.0.1:9464/metrics` (histogram buckets set), and keeps serving them after the
//! checks until Ctrl-C, for a look with `curl` or a local Prometheus.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use hookguard::{Scheme, Verifier};
use hookguard_sender::{
    AttemptResult, DeadLetterFilter, Endpoint, Enqueued, JobRecord, JobState, MemoryQueue, Page,
    Queue, RetryPolicy, Sender,
};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::Webhook;
use hookguard_tower::store::{IdempotencyKey, MemoryStore};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WRONG_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// How often each route's handler ran for each event id, and what it answered.
#[derive(Default)]
struct Runs(Mutex<BTreeMap<(&'static str, String), Vec<u16>>>);

impl Runs {
    fn record(&self, route: &'static str, id: &str, status: StatusCode) -> StatusCode {
        let mut runs = self.0.lock().expect("runs lock");
        runs.entry((route, id.to_owned()))
            .or_default()
            .push(status.as_u16());
        status
    }
}

type Event = Webhook<serde_json::Value>;

async fn billing(State(runs): State<Arc<Runs>>, hook: Event) -> StatusCode {
    runs.record("billing", hook.verified.id().unwrap_or("?"), StatusCode::OK)
}

/// Fails the first two deliveries of every event with 503: the layer releases the claim, the sender retries.
async fn crm(State(runs): State<Arc<Runs>>, hook: Event) -> StatusCode {
    let id = hook.verified.id().unwrap_or("?");
    let earlier = runs
        .0
        .lock()
        .expect("runs lock")
        .get(&("crm", id.to_owned()))
        .map_or(0, Vec::len);
    let status = if earlier < 2 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    runs.record("crm", id, status)
}

/// An endpoint that no longer exists on the receiving side.
async fn legacy(State(runs): State<Arc<Runs>>, hook: Event) -> StatusCode {
    runs.record(
        "legacy",
        hook.verified.id().unwrap_or("?"),
        StatusCode::NOT_FOUND,
    )
}

/// `--metrics-addr A`, if given.
fn metrics_addr() -> Result<Option<std::net::SocketAddr>, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(None),
        [flag, addr] if flag == "--metrics-addr" => Ok(Some(addr.parse().map_err(|_| {
            format!("--metrics-addr takes an address like 127.0.0.1:9464, not `{addr}`")
        })?)),
        _ => Err("usage: quickstart [--metrics-addr 127.0.0.1:9464]".into()),
    }
}

/// Installs the Prometheus recorder (with the histograms' buckets) and serves `/metrics` on `addr`.
async fn serve_metrics(
    addr: std::net::SocketAddr,
) -> Result<std::net::SocketAddr, Box<dyn std::error::Error>> {
    use hookguard_sender::metrics::{DELIVERY_SECONDS, DELIVERY_SECONDS_BUCKETS};
    use hookguard_tower::metrics::{VERIFY_SECONDS, VERIFY_SECONDS_BUCKETS};
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DELIVERY_SECONDS.into()),
            DELIVERY_SECONDS_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Full(VERIFY_SECONDS.into()), VERIFY_SECONDS_BUCKETS)?
        .install_recorder()?;
    let app = Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let metrics = match metrics_addr()? {
        Some(addr) => {
            let addr = serve_metrics(addr).await?;
            println!("metrics: http://{addr}/metrics\n");
            Some(addr)
        }
        None => None,
    };
    // The receiver: three routes behind one layer that verifies and runs each event's handler once.
    let runs = Arc::new(Runs::default());
    let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET)?;
    // The sender sends one event, under one id, to every subscribed endpoint. Here three endpoints share one
    // app and one store, so the key adds the path: otherwise `/crm` would be answered with `/billing`'s
    // stored response for the same event.
    let layer = WebhookLayer::new(verifier)
        .idempotency(MemoryStore::new())
        .key(|verified, parts, _body| {
            let path = parts.uri.path();
            Ok(verified
                .id()
                .map(|id| IdempotencyKey::new(format!("{path}:{id}"))))
        });
    let app = Router::new()
        .route("/billing", post(billing))
        .route("/crm", post(crm))
        .route("/legacy", post(legacy))
        .layer(layer)
        .with_state(Arc::clone(&runs));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The sender: endpoints would come from configuration; the receiver is on loopback, which the SSRF
    // guard refuses unless told otherwise.
    let sender = Sender::builder(MemoryQueue::new())
        .endpoint(
            Endpoint::new("billing", format!("{base}/billing"), SECRET)
                .with_event_types(["invoice.paid"]),
        )
        .endpoint(Endpoint::new("crm", format!("{base}/crm"), SECRET))
        .endpoint(
            Endpoint::new("legacy", format!("{base}/legacy"), SECRET)
                .with_event_types(["customer.created"]),
        )
        .endpoint(
            Endpoint::new("impostor", format!("{base}/billing"), WRONG_SECRET)
                .with_event_types(["invoice.paid"]),
        )
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(100),
            2.0,
            Duration::from_secs(1),
            5,
        ))
        // crm's six 503s may open its breaker; a short cooldown keeps the demo quick (deferrals spend no attempt).
        .circuit_breaker(5, Duration::from_millis(300))
        .poll_interval(Duration::from_millis(20))
        .allow_private_networks()
        .build()?;
    let workers = sender.spawn();

    let mut jobs: Vec<Enqueued> = Vec::new();
    for (event_type, payload) in [
        (
            "invoice.paid",
            r#"{"type":"invoice.paid","invoice":"in_1","amount":4200}"#,
        ),
        (
            "invoice.paid",
            r#"{"type":"invoice.paid","invoice":"in_2","amount":990}"#,
        ),
        (
            "customer.created",
            r#"{"type":"customer.created","customer":"cus_1"}"#,
        ),
    ] {
        let enqueued = sender.publish(event_type, payload).await?;
        let to: Vec<&str> = enqueued.iter().map(|e| e.endpoint_id.as_str()).collect();
        println!("published {event_type} to {to:?}");
        jobs.extend(enqueued);
    }
    settle(&sender).await?;

    println!("\ndeliveries:");
    for job in &jobs {
        let record = sender
            .queue()
            .get(job.job_id)
            .await?
            .ok_or("a published job vanished")?;
        println!("  {:<9} {}", job.endpoint_id, describe(&record));
    }

    // Replay the legacy endpoint's dead letter: a fresh attempt budget, the same event id. The layer has the
    // 404 stored and replays it; the handler does not run again.
    let dead = sender
        .queue()
        .dead_letters(&DeadLetterFilter::endpoint("legacy"), Page::first(10))
        .await?;
    for record in &dead.items {
        sender.queue().replay(record.job.id, sender.now()).await?;
    }
    settle(&sender).await?;
    workers.shutdown(Duration::from_secs(5)).await;
    println!(
        "\nafter replaying {} dead letter(s) of `legacy`:",
        dead.items.len()
    );
    for record in &dead.items {
        let record = sender
            .queue()
            .get(record.job.id)
            .await?
            .ok_or("a replayed job vanished")?;
        println!("  legacy    {}", describe(&record));
    }

    println!("\nhandler runs on the receiver (status per run):");
    let runs = runs.0.lock().expect("runs lock").clone();
    for ((route, id), statuses) in &runs {
        println!("  {route:<8} {id}: {statuses:?}");
    }
    check(&sender, &jobs, &runs).await?;
    if let Some(addr) = metrics {
        println!("\nserving http://{addr}/metrics until Ctrl-C");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}

/// Waits (at most 15 s) until no job is due, scheduled or in flight.
async fn settle(sender: &Sender<MemoryQueue>) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let stats = sender.queue().stats(sender.now()).await?;
        if stats.due + stats.scheduled + stats.in_flight == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("jobs still pending after 15 s: {stats:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn describe(record: &JobRecord) -> String {
    let attempts: Vec<String> = record
        .attempts
        .iter()
        .map(|a| a.result.to_string())
        .collect();
    format!(
        "{}: {}; attempts: {}",
        record.job.event_id,
        record.state,
        attempts.join(" → ")
    )
}

/// The guarantees the output shows, checked.
async fn check(
    sender: &Sender<MemoryQueue>,
    jobs: &[Enqueued],
    runs: &BTreeMap<(&'static str, String), Vec<u16>>,
) -> Result<(), Box<dyn std::error::Error>> {
    for job in jobs {
        let record = sender
            .queue()
            .get(job.job_id)
            .await?
            .ok_or("a published job vanished")?;
        let id = record.job.event_id.clone();
        let ran = |route| runs.get(&(route, id.clone())).cloned().unwrap_or_default();
        let ok = match (job.endpoint_id.as_str(), &record.state) {
            // Handled exactly once.
            ("billing", JobState::Delivered { .. }) => ran("billing") == [200],
            // Two failures released the claim; the third run completed it.
            ("crm", JobState::Delivered { .. }) => {
                ran("crm") == [503, 503, 200] && record.attempts.len() == 3
            }
            // Forged: refused by the layer before any handler, then dead-lettered by the sender.
            ("impostor", JobState::Dead { .. }) => record
                .attempts
                .iter()
                .all(|a| matches!(a.result, AttemptResult::Status(401))),
            // 404 twice (the second a replay of the stored answer), the handler once.
            ("legacy", JobState::Dead { .. }) => {
                ran("legacy") == [404] && record.attempts.len() == 2
            }
            _ => false,
        };
        if !ok {
            return Err(format!(
                "unexpected outcome for {} → {}: {}",
                id,
                job.endpoint_id,
                describe(&record)
            )
            .into());
        }
    }
    println!(
        "\nall checks passed: every event handled once, retries and dead letters as described"
    );
    Ok(())
}
