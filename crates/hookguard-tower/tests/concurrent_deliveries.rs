//! 1 000 concurrent deliveries of one event over real HTTP: the handler runs exactly once, every other
//! delivery gets the replay or a 409.

mod common;

use std::sync::Arc;

use common::{Calls, app, deliver, serve};
use hookguard_tower::WebhookLayer;
use hookguard_tower::store::MemoryStore;

const DELIVERIES: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_event_delivered_a_thousand_times_at_once_runs_once() {
    let calls = Calls::default();
    let addr = serve(app(
        WebhookLayer::new(common::verifier()).idempotency(MemoryStore::new()),
        &calls,
    ))
    .await;
    let body: &'static [u8] = br#"{"type":"order.created","id":7}"#;
    let start = Arc::new(tokio::sync::Barrier::new(DELIVERIES));
    let tasks: Vec<_> = (0..DELIVERIES)
        .map(|_| {
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                let res = deliver(addr, "/slow", "msg_race", body).await;
                let replayed = res.headers().get("idempotent-replayed").is_some();
                (res.status().as_u16(), replayed, res.text().await.unwrap())
            })
        })
        .collect();
    let (mut fresh, mut replayed, mut conflict) = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (200, false, body) => {
                assert_eq!(body, "slow");
                fresh += 1;
            }
            (200, true, body) => {
                assert_eq!(body, "slow");
                replayed += 1;
            }
            (409, false, _) => conflict += 1,
            other => panic!("unexpected response {other:?}"),
        }
    }
    assert_eq!(calls.get(), 1, "the handler runs exactly once");
    assert_eq!(fresh, 1);
    assert_eq!(fresh + replayed + conflict, DELIVERIES);
    assert!(
        conflict > 0,
        "the handler takes 300 ms: some deliveries overlap it"
    );
}
