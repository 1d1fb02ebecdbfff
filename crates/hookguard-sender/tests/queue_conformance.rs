//! Runs the queue conformance suite against `MemoryQueue` and `BoxedQueue`.

use hookguard_sender::{BoxedQueue, MemoryQueue, Queue, conformance};

#[tokio::test]
async fn memory_queue_conforms() {
    conformance::run(|| async { MemoryQueue::new() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boxed_queue_conforms() {
    conformance::run(|| async { BoxedQueue::new(MemoryQueue::new()) }).await;
}

#[tokio::test]
async fn memory_queue_refuses_jobs_beyond_capacity() {
    use bytes::Bytes;
    use hookguard_sender::{NewJob, QueueError, Timestamp};
    let q = MemoryQueue::with_capacity(2);
    let now = Timestamp::from_unix_seconds(1);
    let job = |e: &str| NewJob::new("ep", e, "t", Bytes::new(), now);
    q.enqueue(job("a")).await.unwrap();
    q.enqueue(job("b")).await.unwrap();
    assert!(matches!(
        q.enqueue(job("c")).await,
        Err(QueueError::Full { capacity: 2 })
    ));
    // A duplicate is not a new job, so it still succeeds when full.
    q.enqueue(job("a")).await.unwrap();
    // Delivering one frees a place.
    let l = q
        .lease(now, 1, std::time::Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    let attempt = hookguard_sender::Attempt::new(
        1,
        now,
        hookguard_sender::AttemptResult::Status(200),
        std::time::Duration::ZERO,
    );
    q.ack(&l.token, attempt).await.unwrap();
    q.enqueue(job("c")).await.unwrap();
}

#[tokio::test]
async fn memory_queue_bounds_delivered_records_too() {
    use bytes::Bytes;
    use hookguard_sender::{Attempt, AttemptResult, NewJob, Timestamp};
    use std::time::Duration;
    let q = MemoryQueue::with_capacity(2);
    let now = Timestamp::from_unix_seconds(1);
    let mut ids = Vec::new();
    for e in ["a", "b", "c"] {
        ids.push(
            q.enqueue(NewJob::new("ep", e, "t", Bytes::new(), now))
                .await
                .unwrap(),
        );
        let l = q
            .lease(now, 1, Duration::from_secs(1))
            .await
            .unwrap()
            .remove(0);
        let attempt = Attempt::new(1, now, AttemptResult::Status(200), Duration::ZERO);
        q.ack(&l.token, attempt).await.unwrap();
    }
    assert!(
        q.get(ids[0]).await.unwrap().is_none(),
        "the oldest delivered record went early"
    );
    assert!(q.get(ids[1]).await.unwrap().is_some() && q.get(ids[2]).await.unwrap().is_some());
}
