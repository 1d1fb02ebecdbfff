//! A real Prometheus (started here on a free loopback port, its own config and TSDB in a temporary directory,
//! scraping every second) scrapes a running sender and receiver that export `/metrics`; every PromQL query
//! of the Grafana dashboard (`examples/grafana/hookguard.json`, template variables substituted) returns at
//! least one series, and the alert rules load and evaluate without error.
//!
//! Its own test binary: it installs the process-wide metrics recorder.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use common::{Killed, TempDir, form_encode, free_port, root, tool};
use hookguard::{Scheme, Verifier};
use hookguard_sender::metrics::{DELIVERY_SECONDS, DELIVERY_SECONDS_BUCKETS};
use hookguard_sender::{Endpoint, Event, MemoryQueue, RetryPolicy, Sender};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::Webhook;
use hookguard_tower::metrics::{VERIFY_SECONDS, VERIFY_SECONDS_BUCKETS};
use hookguard_tower::store::MemoryStore;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use serde_json::Value;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WRONG_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// The longest the whole test waits for Prometheus (start-up, scrapes, every query).
const DEADLINE: Duration = Duration::from_secs(120);

type Seen = Arc<Mutex<HashMap<String, usize>>>;

/// Fails the first two deliveries of each event with 503 (the layer releases the claim; the sender retries).
async fn flaky(State(seen): State<Seen>, hook: Webhook<Value>) -> StatusCode {
    let id = hook.verified.id().unwrap_or("?").to_owned();
    let mut seen = seen.lock().unwrap();
    let n = seen.entry(id).or_default();
    *n += 1;
    if *n <= 2 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

async fn ok(_hook: Webhook<Value>) -> StatusCode {
    StatusCode::OK
}

/// Every PromQL expression of the dashboard's panels (rows included), with the panel's title.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("examples/grafana/hookguard.json"))
        .expect("read the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(panel) = stack.pop() {
        if let Some(inner) = panel["panels"].as_array() {
            stack.extend(inner);
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a target has an expr");
            out.push((panel["title"].as_str().unwrap().to_owned(), expr.to_owned()));
        }
    }
    assert!(out.len() >= 10, "the dashboard's queries: {out:?}");
    out
}

/// Grafana's template variables, as Grafana would substitute them for this test's data.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$__range", "5m")
        .replace("$endpoint", ".*")
}

async fn query(client: &reqwest::Client, base: &str, promql: &str) -> Result<Value, String> {
    let res = client
        .post(format!("{base}/api/v1/query"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("query={}", form_encode(promql)))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let text = res.text().await.map_err(|e| e.to_string())?;
    let body: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if !status.is_success() || body["status"] != "success" {
        return Err(format!("{status}: {body}"));
    }
    Ok(body["data"]["result"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_returns_a_series_on_a_real_prometheus() {
    let Some(prometheus) = tool("prometheus", "prometheus") else {
        return;
    };
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DELIVERY_SECONDS.into()),
            DELIVERY_SECONDS_BUCKETS,
        )
        .unwrap()
        .set_buckets_for_metric(Matcher::Full(VERIFY_SECONDS.into()), VERIFY_SECONDS_BUCKETS)
        .unwrap()
        .install_recorder()
        .expect("the only recorder in this test binary");

    // The receiver: two routes behind one verifying, deduplicating layer.
    let layer = WebhookLayer::new(Verifier::new(Scheme::standard_webhooks(), SECRET).unwrap())
        .idempotency(MemoryStore::new());
    let seen = Seen::default();
    let receiver = Router::new()
        .route("/ok", post(ok))
        .route("/flaky", post(flaky))
        .layer(layer)
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rx = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    // The sender: a healthy endpoint; a flaky one (retries); a twin of the healthy one (the layer answers its
    // deliveries from the store: dedupes); an impostor with the wrong secret (401 rejections, dead letters).
    let sender = Sender::builder(MemoryQueue::new())
        .endpoint(Endpoint::new("ok", format!("{rx}/ok"), SECRET))
        .endpoint(Endpoint::new("flaky", format!("{rx}/flaky"), SECRET))
        .endpoint(Endpoint::new("twin", format!("{rx}/ok"), SECRET))
        .endpoint(Endpoint::new("impostor", format!("{rx}/ok"), WRONG_SECRET))
        .workers(8)
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(50),
            2.0,
            Duration::from_millis(500),
            5,
        ))
        .poll_interval(Duration::from_millis(20))
        .reap_interval(Duration::from_secs(1))
        .allow_private_networks()
        .build()
        .unwrap();
    let workers = sender.spawn();

    // /metrics for both (one process, one recorder).
    let metrics = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, metrics).await.unwrap() });

    // Prometheus, private: its own port, config and TSDB, the alert rules loaded.
    let dir = TempDir::new("prometheus");
    let port = free_port();
    let rules = root().join("examples/prometheus/alerts.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n\
         scrape_configs:\n  - job_name: hookguard\n    static_configs:\n      - targets: ['{target}']\n",
        rules = rules.display()
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = Killed(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    );
    let log_tail = || {
        let text = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        text.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    loop {
        let ready = client.get(format!("{base}/-/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "prometheus did not become ready:\n{}",
            log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Traffic: every event goes to every endpoint.
    for n in 0..5 {
        sender
            .publish_event(
                Event::new("invoice.paid", format!(r#"{{"n":{n}}}"#)).with_id(format!("evt_{n}")),
            )
            .await
            .unwrap();
    }

    // Every panel's query returns a series (polled: a rate needs two scrapes after the first sample).
    let mut pending = dashboard_queries();
    let mut last = HashMap::new();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (title, expr) in pending {
            match query(&client, &base, &substitute(&expr)).await {
                Ok(result) if result.as_array().is_some_and(|r| !r.is_empty()) => {}
                outcome => {
                    last.insert(expr.clone(), format!("{outcome:?}"));
                    still.push((title, expr));
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "panels without a series: {:#?}\nlast answers: {last:#?}\nprometheus log:\n{}",
            pending,
            log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The alert rules loaded and evaluate without error.
    loop {
        let text = client
            .get(format!("{base}/api/v1/rules"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let rules: Value = serde_json::from_str(&text).unwrap();
        let all: Vec<&Value> = rules["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        assert_eq!(all.len(), 4, "{rules}");
        if all.iter().all(|r| r["health"] == "ok") {
            break;
        }
        assert!(
            all.iter().all(|r| r["health"] != "err"),
            "a rule failed to evaluate: {rules}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "rules never evaluated: {rules}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    workers.shutdown(Duration::from_secs(5)).await;
}
