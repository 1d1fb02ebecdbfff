//! The public futures and types are `Send` (and `Sync` where they are shared).

use bytes::Bytes;
use hookguard::Timestamp;
use hookguard_tower::store::{
    BoxedStore, IdempotencyKey, IdempotencyStore, MemoryStore, StoredResponse, Token,
};
use hookguard_tower::{Idempotency, ResponseBody, ResponseFuture, WebhookLayer, WebhookService};
use http_body_util::Full;
use std::time::Duration;

fn assert_send<T: Send>(_: &T) {}
fn assert_send_type<T: Send>() {}
fn assert_sync_type<T: Sync>() {}

type Route = axum::routing::Route;

#[test]
fn layer_types_are_send_and_sync() {
    assert_send_type::<ResponseFuture<Route, axum::body::Body, axum::body::Body>>();
    assert_send_type::<ResponseFuture<Route, hyper::body::Incoming, axum::body::Body>>();
    assert_send_type::<ResponseBody<Full<Bytes>>>();
    assert_send_type::<WebhookService<Route>>();
    assert_sync_type::<WebhookService<Route>>();
    assert_sync_type::<WebhookLayer>();
    assert_sync_type::<Idempotency<BoxedStore>>();
}

#[test]
fn store_futures_are_send() {
    let (memory, boxed) = (MemoryStore::new(), BoxedStore::new(MemoryStore::new()));
    let key = IdempotencyKey::new("k");
    let token = Token::random();
    let (d, now) = (Duration::from_secs(1), Timestamp::now());
    let stored = || StoredResponse::new(http::StatusCode::OK, Bytes::new());
    assert_send(&memory.claim(&key, [0; 32], d, d, now));
    assert_send(&memory.complete(&key, &token, stored(), d, now));
    assert_send(&memory.extend(&key, &token, d, now));
    assert_send(&memory.release(&key, &token, now));
    assert_send(&memory.purge_expired(now, 1));
    assert_send(&boxed.claim(&key, [0; 32], d, d, now));
    assert_send(&boxed.complete(&key, &token, stored(), d, now));
    assert_send(&boxed.extend(&key, &token, d, now));
    assert_send(&boxed.release(&key, &token, now));
    assert_send(&boxed.purge_expired(now, 1));
    let idem = Idempotency::new(memory);
    assert_send(&idem.claim(&key, [0; 32]));
    assert_send(&idem.complete(&key, &token, stored()));
    assert_send(&idem.extend(&key, &token));
    assert_send(&idem.release(&key, &token));
    assert_send(&idem.run(&key, [0; 32], || async {
        http::Response::new(Bytes::new())
    }));
}
