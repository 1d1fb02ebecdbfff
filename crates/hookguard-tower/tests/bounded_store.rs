//! A receiver on a small `MemoryStore` driven far past its byte bound over real HTTP: every new event is
//! still handled (the oldest completed records are evicted), never refused with 503.

mod common;

use common::{Calls, app, deliver, serve};
use hookguard_tower::WebhookLayer;
use hookguard_tower::store::MemoryStore;

#[tokio::test]
async fn every_event_is_answered_past_the_bound_and_the_oldest_are_evicted() {
    let bound = 64 << 10;
    let store = MemoryStore::with_max_bytes(bound);
    let layer = WebhookLayer::new(common::verifier()).idempotency(store.clone());
    let calls = Calls::default();
    let addr = serve(app(layer, &calls)).await;
    let events = 2_000;
    for i in 0..events {
        let id = format!("msg_bounded_{i}");
        let body = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "p".repeat(200));
        let res = deliver(addr, "/ok", &id, body.as_bytes()).await;
        assert_eq!(res.status(), 201, "event {i}");
    }
    assert_eq!(calls.get(), events);
    let stats = store.stats();
    assert!(stats.bytes <= bound, "{stats:?}");
    assert!(stats.evictions > 1_000, "{stats:?}");
    // The newest event is still deduplicated.
    let last = events - 1;
    let body = format!("{{\"n\":{last},\"pad\":\"{}\"}}", "p".repeat(200));
    let res = deliver(addr, "/ok", &format!("msg_bounded_{last}"), body.as_bytes()).await;
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(calls.get(), events);
}
