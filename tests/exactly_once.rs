//! The proof, in memory: 10 000 events through the sender, over real HTTP, to a receiver behind the webhook
//! layer, with a fault proxy between them failing 20 % of deliveries outside the handler's effect (500s,
//! timeouts, and responses lost after the handler ran), and the sender's worker pool aborted and started
//! again twice mid-run on the same `MemoryQueue` → the handler's effect count equals the events exactly and
//! no job is dead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use hookguard::{Scheme, Verifier};
use hookguard_examples::faults::{Fault, FaultPlan, FaultProxy};
use hookguard_sender::{Endpoint, MemoryQueue, NewJob, Queue as _, RetryPolicy, Sender, Timestamp};
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::VerifiedWebhook;
use hookguard_tower::store::MemoryStore;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const EVENTS: usize = 10_000;
/// The sender's per-attempt timeout; the proxy's timeouts hold a request longer.
const TIMEOUT: Duration = Duration::from_millis(400);

/// The handler's effects, per event id.
type Effects = Arc<Mutex<HashMap<String, u32>>>;

async fn effect(State(effects): State<Effects>, VerifiedWebhook(v): VerifiedWebhook) -> StatusCode {
    let id = v.id().unwrap_or_default().to_owned();
    *effects.lock().unwrap().entry(id).or_default() += 1;
    StatusCode::NO_CONTENT
}

async fn receiver() -> (String, Effects) {
    let effects = Effects::default();
    let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET).unwrap();
    let app = Router::new()
        .route("/hook", post(effect))
        .with_state(Arc::clone(&effects))
        .layer(WebhookLayer::new(verifier).idempotency(MemoryStore::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, effects)
}

fn plan() -> FaultPlan {
    FaultPlan {
        percent: 20,
        // A policy of 25 attempts: no event can run out.
        max_per_event: 5,
        hold: TIMEOUT * 2,
    }
}

async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_with_faults_and_two_aborts_take_effect_exactly_once() {
    let (upstream, effects) = receiver().await;
    let proxy = FaultProxy::start(upstream, plan()).await.unwrap();
    let sender = Sender::builder(MemoryQueue::new())
        .endpoint(
            Endpoint::new("ep", format!("{}/hook", proxy.url()), SECRET)
                .with_timeout(TIMEOUT)
                .with_max_in_flight(64),
        )
        .workers(64)
        .batch(16)
        .lease(TIMEOUT + hookguard_sender::LEASE_MARGIN + Duration::from_millis(100))
        .reap_interval(Duration::from_millis(100))
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(10),
            2.0,
            Duration::from_millis(200),
            25,
        ))
        // 20 % faults make runs of failures: the breaker must not stall the proof for a minute.
        .circuit_breaker(1_000, Duration::from_millis(100))
        .allow_private_networks()
        .build()
        .unwrap();
    let now = Timestamp::now();
    let jobs: Vec<NewJob> = (0..EVENTS)
        .map(|i| {
            let body = Bytes::from(format!(r#"{{"type":"test.event","n":{i}}}"#));
            NewJob::new("ep", format!("evt_{i:05}"), "test.event", body, now).unwrap()
        })
        .collect();
    for chunk in jobs.chunks(1_000) {
        sender.queue().enqueue_many(chunk.to_vec()).await.unwrap();
    }
    let handled = || effects.lock().unwrap().len();

    // Two crashes of the worker pool mid-run, each followed by a fresh pool on the same queue.
    for (round, at) in [EVENTS / 3, 2 * EVENTS / 3].into_iter().enumerate() {
        let workers = sender.spawn();
        until(
            &format!("{at} events handled (round {round})"),
            Duration::from_secs(120),
            || handled() >= at,
        )
        .await;
        workers.abort();
        let stats = sender.queue().stats(sender.now()).await.unwrap();
        assert!(
            stats.in_flight > 0,
            "the abort left leases behind: {stats:?}"
        );
    }
    let workers = sender.spawn();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let stats = sender.queue().stats(sender.now()).await.unwrap();
        if stats.due + stats.scheduled + stats.in_flight == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue drains: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    workers.shutdown(Duration::from_secs(5)).await;

    let stats = sender.queue().stats(sender.now()).await.unwrap();
    assert_eq!(stats.dead, 0, "no job is dead: {stats:?}");
    let effects = effects.lock().unwrap();
    assert_eq!(effects.len(), EVENTS, "every event took effect");
    let twice: Vec<_> = effects.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "handler effects == events exactly: {twice:?}"
    );

    let counts = proxy.counts();
    let injected: u64 = counts.injected.values().sum();
    assert!(
        injected * 100 >= counts.arrivals * 15,
        "about 20 % of deliveries failed: {counts:?}"
    );
    for kind in [Fault::Status500, Fault::Timeout, Fault::LostResponse] {
        assert!(
            counts.injected.get(&kind).copied().unwrap_or(0) > 100,
            "{kind:?} injected: {counts:?}"
        );
    }
}
