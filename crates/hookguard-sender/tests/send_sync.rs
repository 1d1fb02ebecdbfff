//! Compile-time checks: the sender, its queues and their futures are `Send` (and `Sync` where shared).

use hookguard_sender::{BoxedQueue, Event, MemoryQueue, Queue, Sender, Timestamp, Workers};

fn assert_send<T: Send>(_: &T) {}
fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn types_are_send_and_sync() {
    assert_send_sync::<Sender<MemoryQueue>>();
    assert_send_sync::<Sender<BoxedQueue>>();
    assert_send_sync::<MemoryQueue>();
    assert_send_sync::<BoxedQueue>();
    assert_send_sync::<Workers>();
}

#[allow(clippy::let_underscore_future)]
#[test]
fn futures_are_send() {
    let sender = Sender::builder(BoxedQueue::new(MemoryQueue::new()))
        .build()
        .unwrap();
    assert_send(&sender.send("ep", Event::new("t", "{}")));
    assert_send(&sender.publish("t", "{}"));
    assert_send(&sender.process_due(1));
    assert_send(&sender.reap());
    assert_send(&sender.queue().stats(Timestamp::EPOCH));
    let q = MemoryQueue::new();
    let options = hookguard_sender::LeaseOptions::all();
    assert_send(&q.lease(Timestamp::EPOCH, 1, std::time::Duration::ZERO, &options));
    assert_send(&q.conclude(Timestamp::EPOCH, Vec::new()));
    assert_send(&q.wait_for_work(Timestamp::EPOCH, Timestamp::EPOCH));
    let boxed = BoxedQueue::new(MemoryQueue::new());
    assert_send(&boxed.lease(Timestamp::EPOCH, 1, std::time::Duration::ZERO, &options));
    assert_send(&boxed.enqueue_many(Vec::new()));
    assert_send(&sender.pause("ep", Timestamp::EPOCH));
}
