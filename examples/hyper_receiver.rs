//! Run with: `cargo run --example hyper_receiver` — the webhook layer in front of a plain hyper server,
//! through `tower::ServiceBuilder` and hyper-util. Listens on `ADDR` (default `127.0.0.1:3000`).
//!
//! Then, in another shell:
//! ```sh
//! echo '{"type":"invoice.paid","amount":42}' > body.json
//! cargo run -q --example hookguard -- sign --scheme standard-webhooks \
//!     --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --body-file body.json > headers.txt
//! curl -i -H @headers.txt --data-binary @body.json http://127.0.0.1:3000/
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use hookguard::{Scheme, Verified, Verifier};
use hookguard_tower::WebhookLayer;
use hookguard_tower::store::MemoryStore;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;

/// Sees only verified requests, with their body buffered and the signature in the extensions.
async fn handle(
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let id = req
        .extensions()
        .get::<Verified<'static>>()
        .and_then(Verified::id)
        .unwrap_or("-")
        .to_owned();
    Ok(http::Response::new(Full::new(Bytes::from(format!(
        "handled {id}\n"
    )))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("info,hookguard_tower=debug")
        .init();
    let secret = std::env::var("WEBHOOK_SECRET")
        .unwrap_or_else(|_| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
    let verifier = Verifier::new(Scheme::standard_webhooks(), &secret)?;
    let service = ServiceBuilder::new()
        .layer(
            WebhookLayer::new(verifier)
                .idempotency(MemoryStore::new())
                .body_limit(256 << 10),
        )
        .service_fn(handle);

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("listening on http://{}/", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
}
