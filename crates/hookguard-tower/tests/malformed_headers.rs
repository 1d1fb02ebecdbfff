//! Duplicate signature headers and non-ASCII header values are malformed requests: 400.

mod common;

use common::{Calls, app, post_with, problem, serve, signed};
use hookguard_tower::WebhookLayer;
use hookguard_tower::store::MemoryStore;
use http::HeaderValue;

const BODY: &[u8] = br#"{"type":"ping"}"#;

async fn server() -> (std::net::SocketAddr, Calls) {
    let calls = Calls::default();
    let layer = WebhookLayer::new(common::verifier()).idempotency(MemoryStore::new());
    (serve(app(layer, &calls)).await, calls)
}

#[tokio::test]
async fn duplicate_signature_headers_are_400() {
    let (addr, calls) = server().await;
    for header in ["webhook-signature", "webhook-id", "webhook-timestamp"] {
        let mut headers = signed("msg_dup", BODY);
        let value = headers[header].clone();
        // The same valid value twice is refused too: which copy counts would be ambiguous.
        headers.append(header, value);
        let res = post_with(addr, "/ok", headers, BODY).await;
        assert_eq!(res.status(), 400, "{header}");
        assert_eq!(
            problem(res).await["type"],
            "https://hookguard.dev/problems/malformed-header",
            "{header}"
        );
    }
    assert_eq!(calls.get(), 0);
}

#[tokio::test]
async fn non_ascii_header_values_are_400() {
    let (addr, calls) = server().await;
    for header in ["webhook-signature", "webhook-id", "webhook-timestamp"] {
        let mut headers = signed("msg_utf8", BODY);
        let mut bytes = headers[header].as_bytes().to_vec();
        bytes.extend_from_slice("é".as_bytes());
        headers.insert(header, HeaderValue::from_bytes(&bytes).unwrap());
        let res = post_with(addr, "/ok", headers, BODY).await;
        assert_eq!(res.status(), 400, "{header}");
        assert_eq!(
            problem(res).await["type"],
            "https://hookguard.dev/problems/malformed-header",
            "{header}"
        );
    }
    assert_eq!(calls.get(), 0);
}
