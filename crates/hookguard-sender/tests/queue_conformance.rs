//! Runs the queue conformance suite against `MemoryQueue` and `BoxedQueue`, plus `MemoryQueue`'s own bounds.

use std::time::Duration;

use bytes::Bytes;
use hookguard_sender::{
    Attempt, AttemptResult, BoxedQueue, LeaseOptions, MemoryQueue, NewJob, Queue, QueueError,
    Timestamp, Transition, conformance,
};

#[tokio::test]
async fn memory_queue_conforms() {
    conformance::run(|| async { MemoryQueue::new() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boxed_queue_conforms() {
    let heavy = conformance::Options {
        jobs: 1000,
        tasks: 8,
    };
    conformance::run_with(|| async { BoxedQueue::new(MemoryQueue::new()) }, heavy).await;
}

#[tokio::test]
async fn two_handles_on_one_memory_queue_conform() {
    conformance::run_shared(|| async {
        let q = BoxedQueue::new(MemoryQueue::new());
        (q.clone(), q)
    })
    .await;
}

fn job(e: &str, now: Timestamp) -> NewJob {
    NewJob::new("ep", e, "t", Bytes::new(), now).unwrap()
}

async fn deliver_one(q: &MemoryQueue, now: Timestamp) {
    let l = q
        .lease(now, 1, Duration::from_secs(1), &LeaseOptions::all())
        .await
        .unwrap()
        .jobs
        .remove(0);
    let attempt = Attempt::new(1, now, AttemptResult::Status(200), Duration::ZERO);
    let r = q
        .conclude(now, vec![(l.handle, Transition::Ack { attempt })])
        .await
        .unwrap();
    assert!(r[0].is_ok());
}

#[tokio::test]
async fn memory_queue_refuses_jobs_beyond_capacity_all_or_none() {
    let q = MemoryQueue::with_capacity(2);
    let now = Timestamp::from_unix_seconds(1);
    q.enqueue(job("a", now)).await.unwrap();
    assert!(matches!(
        q.enqueue_many(vec![job("b", now), job("c", now)]).await,
        Err(QueueError::Full { capacity: 2 })
    ));
    assert!(
        q.get(hookguard_sender::JobId(2)).await.unwrap().is_none(),
        "a refused enqueue_many stores nothing"
    );
    q.enqueue(job("b", now)).await.unwrap();
    // A duplicate is not a new job, so it still succeeds when full.
    q.enqueue(job("a", now)).await.unwrap();
    // Delivering one frees a place.
    deliver_one(&q, now).await;
    q.enqueue(job("c", now)).await.unwrap();
}

#[tokio::test]
async fn memory_queue_bounds_delivered_records_too() {
    let q = MemoryQueue::with_capacity(2);
    let now = Timestamp::from_unix_seconds(1);
    let mut ids = Vec::new();
    for e in ["a", "b", "c"] {
        ids.push(q.enqueue(job(e, now)).await.unwrap());
        deliver_one(&q, now).await;
    }
    assert!(
        q.get(ids[0]).await.unwrap().is_none(),
        "the oldest delivered record went early"
    );
    assert!(q.get(ids[1]).await.unwrap().is_some() && q.get(ids[2]).await.unwrap().is_some());
}

#[test]
fn new_job_validates_its_input() {
    use hookguard_sender::{JobError, MAX_PAYLOAD};
    let now = Timestamp::EPOCH;
    let ok = |ep: &str, id: &str, t: &str, len: usize| {
        NewJob::new(ep, id, t, Bytes::from(vec![b'x'; len]), now)
    };
    assert!(ok("ep", "msg_1", "t", MAX_PAYLOAD).is_ok());
    assert_eq!(
        ok("ep", "msg_1", "t", MAX_PAYLOAD + 1).unwrap_err(),
        JobError::PayloadTooLarge {
            len: MAX_PAYLOAD + 1,
            max: MAX_PAYLOAD
        }
    );
    for bad in ["", "a b", "a,b", "é", &"x".repeat(257)] {
        assert_eq!(
            ok("ep", bad, "t", 0).unwrap_err(),
            JobError::InvalidEventId,
            "{bad:?}"
        );
    }
    assert_eq!(
        ok("", "m", "t", 0).unwrap_err(),
        JobError::InvalidEndpointId
    );
    assert_eq!(
        ok("ep", "m", "a\nb", 0).unwrap_err(),
        JobError::InvalidEventType
    );
}
