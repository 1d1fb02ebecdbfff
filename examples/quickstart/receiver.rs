//! The receiving side: an axum app behind `WebhookLayer`, whose handlers count their effects, and an
//! observer outside everything that tallies what each request was answered.
//!
//! ```text
//! observe ─┬─ /billing, /analytics, /legacy ── WebhookLayer ── handler
//!          └─ /crm ── faults ── WebhookLayer ── handler        (the flaky endpoint)
//! observe ─── /warehouse ── WebhookLayer ── handler            (its own port; refuses connections until revived)
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use hookguard::{Scheme, Verifier};
use hookguard_tower::extract::VerifiedWebhook;
use hookguard_tower::store::{BoxedStore, IdempotencyKey};
use hookguard_tower::{REPLAYED_HEADER, Rejection, WebhookLayer};
use http::{HeaderMap, StatusCode};

use crate::faults::{self, Faults};

/// The receiver's signing secret (the sender's endpoints share it; the impostor does not).
pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A request as it arrived on the wire, kept to replay it later as an attacker would.
#[derive(Clone, Debug)]
pub(crate) struct Captured {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// What one label's requests were answered (a label is the route, or the `via` query of the URL, which
/// tells apart senders that share a route).
#[derive(Clone, Debug, Default)]
pub(crate) struct Answers {
    pub(crate) requests: u64,
    /// Answered from the idempotency store (`Idempotent-Replayed: true`): a duplicate absorbed.
    pub(crate) replayed: u64,
    /// 409: the same event was being handled by another request at that moment.
    pub(crate) in_progress: u64,
    /// Refused by the layer before any handler, by kind (`signature-mismatch`, …).
    pub(crate) rejected: HashMap<&'static str, u64>,
}

impl Answers {
    pub(crate) fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// The receiving application's state.
#[derive(Debug)]
pub(crate) struct Receiver {
    /// How often each route's handler took effect for each event id (the guarantee: once).
    effects: Mutex<HashMap<(&'static str, String), u32>>,
    effects_total: AtomicU64,
    /// How often the legacy route's handler ran per event (it answers 404: no effect, but it runs once).
    legacy_runs: Mutex<HashMap<String, u32>>,
    answers: Mutex<HashMap<String, Answers>>,
    /// The first request billing's handler got, as sent.
    captured: OnceLock<Captured>,
    pub(crate) faults: Arc<Faults>,
}

impl Receiver {
    pub(crate) fn new(faults: Faults) -> Self {
        Self {
            effects: Mutex::new(HashMap::new()),
            effects_total: AtomicU64::new(0),
            legacy_runs: Mutex::new(HashMap::new()),
            answers: Mutex::new(HashMap::new()),
            captured: OnceLock::new(),
            faults: Arc::new(faults),
        }
    }

    fn effect(&self, route: &'static str, id: &str) {
        *self
            .effects
            .lock()
            .expect("effects lock")
            .entry((route, id.to_owned()))
            .or_insert(0) += 1;
        self.effects_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn effects_total(&self) -> u64 {
        self.effects_total.load(Ordering::Relaxed)
    }

    /// Every `(route, event id) → effects` pair.
    pub(crate) fn effects(&self) -> HashMap<(&'static str, String), u32> {
        self.effects.lock().expect("effects lock").clone()
    }

    pub(crate) fn legacy_runs(&self) -> HashMap<String, u32> {
        self.legacy_runs.lock().expect("legacy lock").clone()
    }

    pub(crate) fn captured(&self) -> Option<Captured> {
        self.captured.get().cloned()
    }

    /// The answers tallied so far, by label.
    pub(crate) fn answers(&self) -> HashMap<String, Answers> {
        self.answers.lock().expect("answers lock").clone()
    }

    fn tally(&self, label: String, response: &Response) {
        let mut answers = self.answers.lock().expect("answers lock");
        let a = answers.entry(label).or_default();
        a.requests += 1;
        if response
            .headers()
            .get(REPLAYED_HEADER)
            .is_some_and(|v| v == "true")
        {
            a.replayed += 1;
        }
        match response.extensions().get::<Rejection>() {
            Some(Rejection::InProgress { .. }) => a.in_progress += 1,
            Some(rejection) => *a.rejected.entry(rejection.kind()).or_insert(0) += 1,
            None => {}
        }
    }
}

/// The layer every route sits behind: one verifier, one store.
pub(crate) fn webhook_layer(store: BoxedStore) -> Result<WebhookLayer, hookguard::KeyError> {
    let verifier = Verifier::new(Scheme::standard_webhooks(), SECRET)?;
    Ok(WebhookLayer::new(verifier)
        .idempotency(store)
        // A delivery that meets the same event still in progress gets 409 with `Retry-After` = the lease
        // left (the sender caps it at 2 s here). 5 s, extended while a handler runs, keeps those waits short
        // in a demo (default 60 s) and is still well above a networked store's round trips (1 s timeouts).
        .lease(Duration::from_secs(5))
        // One event goes to several endpoints under one id; here they share one app and one store, so the
        // key adds the path: otherwise /crm would be answered with /billing's stored response.
        .key(|verified, parts, _body| {
            let path = parts.uri.path();
            Ok(verified
                .id()
                .map(|id| IdempotencyKey::new(format!("{path}:{id}"))))
        }))
}

/// The app on the main port: billing, analytics and legacy, and crm behind the fault injector.
pub(crate) fn app(rx: &Arc<Receiver>, layer: &WebhookLayer) -> Router {
    let flaky = Router::new()
        .route("/crm", post(crm))
        .layer(layer.clone())
        .layer(middleware::from_fn_with_state(
            Arc::clone(&rx.faults),
            faults::inject,
        ));
    Router::new()
        .route("/billing", post(billing))
        .route("/analytics", post(analytics))
        .route("/legacy", post(legacy))
        .layer(layer.clone())
        .merge(flaky)
        .layer(middleware::from_fn_with_state(Arc::clone(rx), observe))
        .with_state(Arc::clone(rx))
}

/// The warehouse's app, served on its own port once it is back.
pub(crate) fn warehouse_app(rx: &Arc<Receiver>, layer: &WebhookLayer) -> Router {
    Router::new()
        .route("/warehouse", post(warehouse))
        .layer(layer.clone())
        .layer(middleware::from_fn_with_state(Arc::clone(rx), observe))
        .with_state(Arc::clone(rx))
}

/// Outside everything: tallies what each request was answered.
async fn observe(State(rx): State<Arc<Receiver>>, req: Request, next: Next) -> Response {
    let label = label(req.uri());
    let response = next.run(req).await;
    rx.tally(label, &response);
    response
}

/// `via` from the query (`/billing?via=relay`), else the path without its slash.
fn label(uri: &http::Uri) -> String {
    uri.query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("via=")))
        .unwrap_or_else(|| uri.path().trim_start_matches('/'))
        .to_owned()
}

type Hook = VerifiedWebhook;

fn id(hook: &Hook) -> &str {
    hook.0.id().unwrap_or("?")
}

async fn billing(
    State(rx): State<Arc<Receiver>>,
    hook: Hook,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if rx.captured.get().is_none() {
        let _ = rx.captured.set(Captured { headers, body });
    }
    rx.effect("billing", id(&hook));
    StatusCode::OK
}

async fn crm(State(rx): State<Arc<Receiver>>, hook: Hook) -> StatusCode {
    rx.effect("crm", id(&hook));
    StatusCode::OK
}

async fn analytics(State(rx): State<Arc<Receiver>>, hook: Hook) -> StatusCode {
    rx.effect("analytics", id(&hook));
    StatusCode::OK
}

async fn warehouse(State(rx): State<Arc<Receiver>>, hook: Hook) -> StatusCode {
    rx.effect("warehouse", id(&hook));
    StatusCode::OK
}

/// An endpoint that no longer exists on the receiving side: the layer stores its 404 like any final answer.
async fn legacy(State(rx): State<Arc<Receiver>>, hook: Hook) -> StatusCode {
    *rx.legacy_runs
        .lock()
        .expect("legacy lock")
        .entry(id(&hook).to_owned())
        .or_insert(0) += 1;
    StatusCode::NOT_FOUND
}
