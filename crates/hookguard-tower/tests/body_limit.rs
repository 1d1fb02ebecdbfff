//! How the layer reads the body: just under and at the limit passes, just over is 413, an oversized body is
//! refused without being read to the end, a body in several chunks is verified whole, and a body that fails
//! while being read is 400.

mod common;

use std::time::Duration;

use common::{Calls, app, deliver, problem, serve, signed};
use hookguard_tower::WebhookLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: usize = 1024;

fn layer() -> WebhookLayer {
    WebhookLayer::new(common::verifier()).body_limit(LIMIT)
}

#[tokio::test]
async fn bodies_up_to_the_limit_pass_and_one_byte_more_is_413() {
    let calls = Calls::default();
    let addr = serve(app(layer(), &calls)).await;
    for len in [LIMIT - 1, LIMIT] {
        let body = vec![b'a'; len];
        assert_eq!(
            deliver(addr, "/ok", "msg_len", &body).await.status(),
            201,
            "{len} bytes"
        );
    }
    let body = vec![b'a'; LIMIT + 1];
    let res = deliver(addr, "/ok", "msg_len", &body).await;
    assert_eq!(res.status(), 413);
    let p = problem(res).await;
    assert_eq!(p["type"], "https://hookguard.dev/problems/body-too-large");
    assert_eq!(calls.get(), 2);
}

/// Writes a request head and `body_part`, then reads the response head without sending the rest.
async fn raw_exchange(addr: std::net::SocketAddr, head: &str, body_part: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body_part).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the server answers before the body is complete")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn head(extra: &str) -> String {
    let mut head = String::from("POST /ok HTTP/1.1\r\nhost: localhost\r\n");
    for (name, value) in &signed("msg_big", b"whatever") {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str(extra);
    head.push_str("\r\n");
    head
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_any_body_byte() {
    let calls = Calls::default();
    let addr = serve(app(layer(), &calls)).await;
    // 1 GiB announced, not one byte sent.
    let response = raw_exchange(addr, &head("content-length: 1073741824\r\n"), b"").await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("application/problem+json"), "{response}");
    assert_eq!(calls.get(), 0);
}

#[tokio::test]
async fn a_chunked_body_is_refused_once_it_passes_the_limit() {
    let calls = Calls::default();
    let addr = serve(app(layer(), &calls)).await;
    // Two 1000-byte chunks and no terminating chunk: the server must answer without waiting for the end.
    let chunk = format!("3e8\r\n{}\r\n", "a".repeat(1000));
    let response = raw_exchange(
        addr,
        &head("transfer-encoding: chunked\r\n"),
        chunk.repeat(2).as_bytes(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(calls.get(), 0);
}

#[tokio::test]
async fn a_body_in_several_chunks_is_verified_whole() {
    let calls = Calls::default();
    let addr = serve(app(layer(), &calls)).await;
    let body = format!("{}{}", "a".repeat(600), "b".repeat(400));
    let mut head = String::from("POST /ok HTTP/1.1\r\nhost: localhost\r\n");
    for (name, value) in &signed("msg_chunks", body.as_bytes()) {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("transfer-encoding: chunked\r\n\r\n");
    let chunks = format!(
        "258\r\n{}\r\n190\r\n{}\r\n0\r\n\r\n",
        &body[..600],
        &body[600..]
    );
    let response = raw_exchange(addr, &head, chunks.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert_eq!(calls.get(), 1);
}

/// One chunk of data, then a read error.
struct FailingBody {
    sent: bool,
}

impl http_body::Body for FailingBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.sent {
            return std::task::Poll::Ready(Some(Err(std::io::Error::other("connection reset"))));
        }
        self.sent = true;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
            b"{\"a\"",
        )))))
    }
}

#[tokio::test]
async fn a_body_that_fails_while_read_is_400_and_the_handler_never_runs() {
    use http_body_util::BodyExt;
    use tower::{Layer, ServiceExt};

    let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&ran);
    let service = layer().layer(tower::service_fn(move |_req: http::Request<_>| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ran"))) }
    }));
    let mut req = http::Request::post("/")
        .body(FailingBody { sent: false })
        .unwrap();
    *req.headers_mut() = signed("msg_broken", b"{\"a\": 1}");
    let res = service.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 400);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let p: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(p["type"], "https://hookguard.dev/problems/body-unreadable");
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0);
}
