//! Shared helpers for the HTTP tests: a signer, servers on 127.0.0.1:0, a counting handler, a failing store.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use hookguard::{Clock, Scheme, Signer, SystemClock, Timestamp, Verified, Verifier};
use hookguard_tower::WebhookLayer;
use hookguard_tower::store::{
    Claim, IdempotencyKey, IdempotencyStore, StoreError, StoredResponse, Token,
};

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn verifier() -> Verifier {
    Verifier::new(Scheme::standard_webhooks(), SECRET).unwrap()
}

pub fn signer() -> Signer {
    Signer::new(Scheme::standard_webhooks(), SECRET).unwrap()
}

pub fn now() -> i64 {
    SystemClock.now_unix()
}

/// Standard Webhooks headers for `body`, signed now.
pub fn signed(id: &str, body: &[u8]) -> http::HeaderMap {
    signer().sign(id, now(), body).unwrap()
}

/// How many times the handler ran.
#[derive(Clone, Default, Debug)]
pub struct Calls(Arc<AtomicUsize>);

impl Calls {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn bump(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// The test app behind `layer`:
/// - `/ok`: 201 with a JSON body naming the event id and the call number;
/// - `/fail-once`: 500 on the first call, 200 afterwards;
/// - `/slow`: 200 after 300 ms;
/// - `/hang-once`: never answers the first call, 200 afterwards;
/// - `/status/{code}`: answers with that status.
pub fn app(layer: WebhookLayer, calls: &Calls) -> Router {
    let c = calls.clone();
    let ok = post(
        move |axum::Extension(v): axum::Extension<Verified<'static>>| {
            let n = c.bump();
            async move {
                let body = format!("{{\"id\":\"{}\",\"call\":{n}}}", v.id().unwrap_or("-"));
                (
                    StatusCode::CREATED,
                    [
                        ("content-type", "application/json"),
                        ("x-not-replayed", "1"),
                    ],
                    body,
                )
            }
        },
    );
    let c = calls.clone();
    let fail_once = post(move || {
        let n = c.bump();
        async move {
            if n == 1 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }
    });
    let c = calls.clone();
    let slow = post(move || {
        c.bump();
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "slow"
        }
    });
    let c = calls.clone();
    let hang_once = post(move || {
        let n = c.bump();
        async move {
            if n == 1 {
                std::future::pending::<()>().await;
            }
            "finally"
        }
    });
    let c = calls.clone();
    let status = post(move |axum::extract::Path(code): axum::extract::Path<u16>| {
        c.bump();
        async move { StatusCode::from_u16(code).unwrap().into_response() }
    });
    Router::new()
        .route("/ok", ok)
        .route("/fail-once", fail_once)
        .route("/slow", slow)
        .route("/hang-once", hang_once)
        .route("/status/{code}", status)
        .layer(layer)
}

/// Serves `router` on 127.0.0.1:0 until the test ends.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A reqwest builder that works however the workspace unified reqwest's features.
///
/// The sender builds reqwest with `rustls-no-provider` (ring, not aws-lc); when the whole workspace is built
/// together that feature reaches these tests too, and reqwest refuses to build a client, even a plain-HTTP
/// one, until a provider is installed. Installing one twice is harmless.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

pub fn client() -> reqwest::Client {
    client_builder().pool_max_idle_per_host(0).build().unwrap()
}

/// POSTs `body` with `headers` to `path`.
pub async fn post_with(
    addr: SocketAddr,
    path: &str,
    headers: http::HeaderMap,
    body: impl Into<Vec<u8>>,
) -> reqwest::Response {
    client()
        .post(format!("http://{addr}{path}"))
        .headers(headers)
        .body(body.into())
        .send()
        .await
        .unwrap()
}

/// POSTs `body` signed as event `id`.
pub async fn deliver(addr: SocketAddr, path: &str, id: &str, body: &[u8]) -> reqwest::Response {
    post_with(addr, path, signed(id, body), body.to_vec()).await
}

/// The problem document of a rejection, after checking its content type and status field.
pub async fn problem(res: reqwest::Response) -> serde_json::Value {
    let status = res.status().as_u16();
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let v: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(v["status"], status);
    assert!(v["title"].is_string() && v["detail"].is_string(), "{v}");
    v
}

/// A store whose backend is always down.
#[derive(Debug, Clone, Default)]
pub struct DownStore;

fn down() -> StoreError {
    StoreError::unavailable(
        "down",
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"),
    )
}

impl IdempotencyStore for DownStore {
    async fn claim(
        &self,
        _: &IdempotencyKey,
        _: [u8; 32],
        _: Duration,
        _: Duration,
        _: Timestamp,
    ) -> Result<Claim, StoreError> {
        Err(down())
    }

    async fn complete(
        &self,
        _: &IdempotencyKey,
        _: &Token,
        _: StoredResponse,
        _: Duration,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        Err(down())
    }

    async fn extend(
        &self,
        _: &IdempotencyKey,
        _: &Token,
        _: Duration,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        Err(down())
    }

    async fn release(&self, _: &IdempotencyKey, _: &Token, _: Timestamp) -> Result<(), StoreError> {
        Err(down())
    }

    async fn purge_expired(&self, _: Timestamp, _: usize) -> Result<usize, StoreError> {
        Err(down())
    }
}

/// The URL in `var` (`REDIS_URL`, `DATABASE_URL`) for a backend test, or `None` after printing that
/// `test` is skipped; with `HOOKGUARD_REQUIRE_BACKENDS=1` a missing URL fails the test instead.
pub fn backend_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("HOOKGUARD_REQUIRE_BACKENDS").as_deref() == Ok("1") => {
            panic!("HOOKGUARD_REQUIRE_BACKENDS=1 but {var} is unset")
        }
        _ => {
            eprintln!("{test}: skipped, {var} is unset");
            None
        }
    }
}

/// `n` random bytes as lower-case hex: a key prefix or schema name no other test or run uses.
pub fn unique_hex(n: usize) -> String {
    Token::random().as_bytes()[..n]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Claims one fresh key `n` times at once, spread round-robin over `stores` (handles built as separate
/// processes would build them); returns how many claims acquired it. Every other claim must wait.
pub async fn race_across<S: IdempotencyStore + Clone>(stores: &[S], n: usize) -> usize {
    let key = hookguard_tower::conformance::unique_key("race-across");
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let claims: Vec<_> = (0..n)
        .map(|i| {
            let (store, key, barrier) = (
                stores[i % stores.len()].clone(),
                key.clone(),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let lease = Duration::from_secs(60);
                store
                    .claim(&key, [7; 32], lease, lease, Timestamp::now())
                    .await
            })
        })
        .collect();
    let mut acquired = 0;
    for claim in claims {
        match claim.await.unwrap().expect("claim") {
            Claim::Acquired { .. } => acquired += 1,
            Claim::InProgress { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    acquired
}

/// Delivers one signed event `n` times at once to `/slow`, spread over `replicas`, then once more to
/// each replica: the statuses of the concurrent deliveries, and whether each later one was a replay.
pub async fn deliver_to_replicas(
    replicas: &[SocketAddr],
    id: &str,
    n: usize,
) -> (Vec<u16>, Vec<bool>) {
    let body = br#"{"type":"invoice.paid"}"#.to_vec();
    let headers = signed(id, &body);
    let deliveries: Vec<_> = (0..n)
        .map(|i| {
            let (addr, headers, body) =
                (replicas[i % replicas.len()], headers.clone(), body.clone());
            tokio::spawn(async move {
                post_with(addr, "/slow", headers, body)
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for delivery in deliveries {
        statuses.push(delivery.await.unwrap());
    }
    let mut replays = Vec::new();
    for addr in replicas {
        let res = post_with(*addr, "/slow", headers.clone(), body.clone()).await;
        replays.push(
            res.headers()
                .get("idempotent-replayed")
                .is_some_and(|v| v == "true"),
        );
    }
    (statuses, replays)
}
