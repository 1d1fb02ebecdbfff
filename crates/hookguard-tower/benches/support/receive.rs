//! What the layer bench and the `receive_instructions` example send and serve: fresh 1 KiB Standard
//! Webhooks deliveries, the bare handler, the bare handler verifying the delivery itself, and one call
//! through a service.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hookguard::{Clock, Scheme, Signer, SystemClock, Verifier};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceExt};

pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(crate) type Request = http::Request<Full<Bytes>>;
pub(crate) type Response = http::Response<Full<Bytes>>;

/// Fresh deliveries of one 1 KiB JSON body: a new id each, signed now.
pub(crate) struct Deliveries {
    signer: Signer,
    pub(crate) body: Bytes,
    next: AtomicU64,
}

impl Deliveries {
    pub(crate) fn new() -> Self {
        Self {
            signer: Signer::new(Scheme::standard_webhooks(), SECRET).expect("key"),
            body: Bytes::from(format!("{{\"data\":\"{}\"}}", "a".repeat(1011))),
            next: AtomicU64::new(0),
        }
    }

    pub(crate) fn request(&self) -> Request {
        let id = format!("msg_{}", self.next.fetch_add(1, Ordering::Relaxed));
        let headers = self
            .signer
            .sign(&id, SystemClock.now_unix(), &self.body)
            .expect("sign");
        let mut req = http::Request::post("/")
            .body(Full::new(self.body.clone()))
            .expect("request");
        *req.headers_mut() = headers;
        req
    }
}

/// The bare handler: answers `ok <length of the body>`.
pub(crate) async fn handler(req: Request) -> Result<Response, Infallible> {
    let len = req
        .into_body()
        .collect()
        .await
        .map_or(0, |b| b.to_bytes().len());
    Ok(http::Response::new(Full::new(Bytes::from(format!(
        "ok {len}"
    )))))
}

/// The bare handler verifying the delivery itself: what the layer does, less everything but the
/// verification.
pub(crate) async fn verifying_handler(
    verifier: Verifier,
    req: Request,
) -> Result<Response, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    assert!(verifier.verify(&parts.headers, &body).is_ok(), "verifies");
    Ok(http::Response::new(Full::new(Bytes::from(format!(
        "ok {}",
        body.len()
    )))))
}

/// One delivery through `service`, on `runtime`: it must succeed, and its body is read to the end.
pub(crate) fn run<S, B>(runtime: &tokio::runtime::Runtime, service: &S, req: Request)
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    runtime.block_on(async {
        let res = service.clone().oneshot(req).await.expect("infallible");
        assert!(res.status().is_success(), "{}", res.status());
        std::hint::black_box(res.into_body().collect().await.expect("body"));
    });
}
