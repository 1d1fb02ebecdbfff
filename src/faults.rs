//! A fault-injecting HTTP proxy, put in front of a receiver to prove what survives the network: it fails a
//! share of deliveries **outside** the handler's effect, decided deterministically by a hash of the event id
//! (`webhook-id`) and how many times the proxy has seen it.
//!
//! - [`Fault::Status500`]: answered 500 without reaching the receiver;
//! - [`Fault::Timeout`]: held without reaching the receiver until the sender has given up;
//! - [`Fault::LostResponse`]: forwarded, the receiver runs its handler and answers, and the proxy drops the
//!   connection before the sender reads a byte of the answer (the effect happened; the sender must retry and
//!   the receiver's idempotency must absorb it).
//!
//! At most [`FaultPlan::max_per_event`] faults hit one event, so a retry policy with more attempts than that
//! always gets it through.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// One injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// 500, the receiver never sees the request.
    Status500,
    /// No answer until after the sender's timeout; the receiver never sees the request.
    Timeout,
    /// The receiver handles the request; its answer is thrown away with the connection.
    LostResponse,
}

/// Which arrivals fail, and how.
#[derive(Clone, Copy, Debug)]
pub struct FaultPlan {
    /// Out of 100 arrivals, about how many fail.
    pub percent: u8,
    /// No event fails more often than this (the k − 1 of a policy with k attempts).
    pub max_per_event: u32,
    /// How long a [`Fault::Timeout`] holds the request: longer than the sender's timeout.
    pub hold: Duration,
}

impl FaultPlan {
    /// The fault for the `arrival`-th time (from 0) the proxy sees `event_id`, if any.
    #[must_use]
    pub fn decide(&self, event_id: &str, arrival: u32) -> Option<Fault> {
        if arrival >= self.max_per_event {
            return None;
        }
        let h = fnv1a(event_id.as_bytes(), arrival);
        if h % 100 >= u64::from(self.percent) {
            return None;
        }
        Some(match (h / 100) % 3 {
            0 => Fault::Status500,
            1 => Fault::Timeout,
            _ => Fault::LostResponse,
        })
    }
}

/// FNV-1a over the id and the arrival number: stable across runs, processes and Rust versions (unlike
/// `std`'s hasher), so a failing run can be replayed exactly.
fn fnv1a(bytes: &[u8], arrival: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes.iter().chain(&arrival.to_le_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What the proxy did, per kind of fault and in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Requests that reached the proxy.
    pub arrivals: u64,
    /// Requests forwarded whose answer was relayed.
    pub passed: u64,
    /// Faults injected, by kind.
    pub injected: HashMap<Fault, u64>,
}

#[derive(Debug)]
struct State {
    plan: FaultPlan,
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    arrivals: Mutex<HashMap<String, u32>>,
    counts: Mutex<FaultCounts>,
}

/// A running fault proxy; it stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port forwarding every request to `upstream` (a base URL such as
    /// `http://127.0.0.1:3000`; the request's path is appended).
    ///
    /// # Errors
    /// If no port can be bound.
    pub async fn start(upstream: impl Into<String>, plan: FaultPlan) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            plan,
            upstream: upstream.into(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            arrivals: Mutex::default(),
            counts: Mutex::default(),
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { state.handle(req).await }
                    });
                    // A `LostResponse` ends the connection with an error: that is the point.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    /// The proxy's base URL (`http://127.0.0.1:PORT`).
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it has done so far.
    ///
    /// # Panics
    /// If a request handler panicked while holding the counts (it does not).
    #[must_use]
    pub fn counts(&self) -> FaultCounts {
        self.state.counts.lock().expect("fault counts").clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why the proxy ended a connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("fault injected: the response was dropped")]
struct Dropped;

impl State {
    async fn handle(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
        let id = req
            .headers()
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let arrival = {
            let mut arrivals = self.arrivals.lock().expect("arrivals");
            let n = arrivals.entry(id.clone()).or_default();
            *n += 1;
            *n - 1
        };
        let fault = self.plan.decide(&id, arrival);
        {
            let mut counts = self.counts.lock().expect("fault counts");
            counts.arrivals += 1;
            match fault {
                Some(f) => *counts.injected.entry(f).or_default() += 1,
                None => counts.passed += 1,
            }
        }
        match fault {
            Some(Fault::Status500) => return Ok(status(StatusCode::INTERNAL_SERVER_ERROR)),
            Some(Fault::Timeout) => {
                tokio::time::sleep(self.plan.hold).await;
                return Ok(status(StatusCode::GATEWAY_TIMEOUT));
            }
            Some(Fault::LostResponse) | None => {}
        }
        let answer = match self.forward(req).await {
            Ok(answer) => answer,
            Err(_) => status(StatusCode::BAD_GATEWAY),
        };
        if fault == Some(Fault::LostResponse) {
            return Err(Dropped);
        }
        Ok(answer)
    }

    async fn forward(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (mut parts, body) = req.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return Ok(status(StatusCode::BAD_REQUEST));
        };
        let Ok(uri) = format!("{}{}", self.upstream, parts.uri.path()).parse() else {
            return Ok(status(StatusCode::BAD_GATEWAY));
        };
        parts.uri = uri;
        parts.headers.remove(http::header::HOST);
        let Ok(upstream) = self
            .client
            .request(Request::from_parts(parts, Full::new(body)))
            .await
        else {
            return Ok(status(StatusCode::BAD_GATEWAY));
        };
        let (parts, body) = upstream.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return Ok(status(StatusCode::BAD_GATEWAY));
        };
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_deterministic_bounded_and_near_its_share() {
        let plan = FaultPlan {
            percent: 20,
            max_per_event: 3,
            hold: Duration::from_secs(1),
        };
        let first: Vec<_> = (0..10_000)
            .map(|i| plan.decide(&format!("evt_{i}"), 0))
            .collect();
        let again: Vec<_> = (0..10_000)
            .map(|i| plan.decide(&format!("evt_{i}"), 0))
            .collect();
        assert_eq!(
            first, again,
            "the same id and arrival always get the same fault"
        );
        let faults = first.iter().filter(|f| f.is_some()).count();
        assert!(
            (1_700..=2_300).contains(&faults),
            "about 20 % of first arrivals fail: {faults}"
        );
        for kind in [Fault::Status500, Fault::Timeout, Fault::LostResponse] {
            assert!(first.contains(&Some(kind)), "{kind:?} is injected");
        }
        assert!(
            (0..10_000).all(|i| plan.decide(&format!("evt_{i}"), 3).is_none()),
            "no fault past max_per_event"
        );
    }
}
