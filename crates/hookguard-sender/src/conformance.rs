//! The queue conformance suite: one generic `async fn` that every [`Queue`] backend must pass.
//!
//! Not a stable API (hidden from the docs, behind the `conformance` feature): it exists so that every backend,
//! in this crate or elsewhere, is held to the same contract. Each check gets a fresh queue from `make`; the
//! checks panic with a message naming the broken rule.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! hookguard_sender::conformance::run(|| async { hookguard_sender::MemoryQueue::new() }).await;
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::{
    Attempt, AttemptErrorKind, AttemptResult, DeadLetterFilter, DeadLetterReason, JobState, NewJob,
    Page, Queue, QueueError, Timestamp,
};

const LEASE: Duration = Duration::from_secs(60);

fn t0() -> Timestamp {
    Timestamp::from_unix_seconds(1_700_000_000)
}

fn job(endpoint: &str, event: &str, now: Timestamp) -> NewJob {
    NewJob::new(
        endpoint,
        event,
        "test.event",
        Bytes::from(format!("{{\"id\":\"{event}\"}}")),
        now,
    )
}

fn status(number: u32, at: Timestamp, code: u16) -> Attempt {
    let mut a = Attempt::new(
        number,
        at,
        AttemptResult::Status(code),
        Duration::from_millis(7),
    );
    a.response_body = format!("status {code}");
    a
}

fn failed(number: u32, at: Timestamp) -> Attempt {
    Attempt::new(
        number,
        at,
        AttemptResult::Error {
            kind: AttemptErrorKind::Timeout,
            message: "timed out".into(),
        },
        Duration::from_secs(15),
    )
}

/// Runs every check, each against a fresh queue from `make`.
pub async fn run<Q, F, Fut>(mut make: F)
where
    Q: Queue,
    F: FnMut() -> Fut,
    Fut: Future<Output = Q>,
{
    enqueue_lease_ack(&make().await).await;
    enqueue_dedupes_per_endpoint(&make().await).await;
    lease_respects_due_time_order_and_max(&make().await).await;
    retry_spends_an_attempt_defer_does_not(&make().await).await;
    stale_tokens_fail_with_lease_lost(&make().await).await;
    extend_and_release(&make().await).await;
    dead_letters_list_filter_and_page(&make().await).await;
    replay_and_purge(&make().await).await;
    stats_count_each_state(&make().await).await;
    endpoint_state(&make().await).await;
    prune_removes_delivered_jobs_and_old_attempts(&make().await).await;
    concurrent_leases_never_share_a_job(Arc::new(make().await)).await;
}

/// A job goes scheduled → in flight → delivered, with its attempt recorded.
pub async fn enqueue_lease_ack<Q: Queue>(q: &Q) {
    let now = t0();
    let id = q.enqueue(job("ep", "evt_1", now)).await.unwrap();
    let rec = q.get(id).await.unwrap().expect("enqueued job is found");
    assert_eq!(rec.state, JobState::Scheduled { due_at: now });
    assert_eq!(rec.job.attempts, 0);
    assert_eq!(rec.job.event_id, "evt_1");
    assert_eq!(rec.job.payload, Bytes::from_static(b"{\"id\":\"evt_1\"}"));

    let leased = q.lease(now, 10, LEASE).await.unwrap();
    assert_eq!(leased.len(), 1, "the due job is leased");
    assert_eq!(leased[0].job.id, id);
    assert_eq!(leased[0].attempt, 1);
    assert_eq!(
        q.get(id).await.unwrap().unwrap().state,
        JobState::InFlight { until: now + LEASE }
    );
    assert!(
        q.lease(now, 10, LEASE).await.unwrap().is_empty(),
        "a leased job is not leased twice"
    );

    q.ack(&leased[0].token, status(1, now, 200)).await.unwrap();
    let rec = q.get(id).await.unwrap().unwrap();
    assert_eq!(rec.state, JobState::Delivered { at: now });
    assert_eq!(rec.job.attempts, 1);
    assert_eq!(
        rec.attempts,
        vec![status(1, now, 200)],
        "ack records the attempt"
    );
    assert!(
        q.lease(now + LEASE * 3, 10, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "delivered jobs are never leased"
    );
}

/// The same event id for the same endpoint is one job; for another endpoint it is another.
pub async fn enqueue_dedupes_per_endpoint<Q: Queue>(q: &Q) {
    let now = t0();
    let a = q.enqueue(job("ep_a", "evt", now)).await.unwrap();
    let again = q
        .enqueue(job("ep_a", "evt", now + Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        a, again,
        "same endpoint and event id returns the existing job"
    );
    let b = q.enqueue(job("ep_b", "evt", now)).await.unwrap();
    assert_ne!(a, b, "another endpoint gets its own job");
    assert_eq!(q.lease(now, 10, LEASE).await.unwrap().len(), 2);
    // Still deduped once delivered.
    let leased = q.lease(now, 10, LEASE).await.unwrap();
    assert!(leased.is_empty());
    let stats = q.stats(now).await.unwrap();
    assert_eq!(stats.in_flight, 2);
}

/// Earliest due first; not-yet-due jobs wait; `max` bounds a lease.
pub async fn lease_respects_due_time_order_and_max<Q: Queue>(q: &Q) {
    let now = t0();
    let late = q
        .enqueue(job("ep", "late", now).scheduled_at(now + Duration::from_secs(30)))
        .await
        .unwrap();
    let mid = q
        .enqueue(job("ep", "mid", now).scheduled_at(now + Duration::from_secs(10)))
        .await
        .unwrap();
    let early = q.enqueue(job("ep", "early", now)).await.unwrap();

    let got = q.lease(now, 10, LEASE).await.unwrap();
    assert_eq!(
        got.iter().map(|l| l.job.id).collect::<Vec<_>>(),
        vec![early],
        "only due jobs are leased"
    );

    let got = q
        .lease(now + Duration::from_secs(60), 1, LEASE)
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|l| l.job.id).collect::<Vec<_>>(),
        vec![mid],
        "earliest due first, at most max"
    );
    let got = q
        .lease(now + Duration::from_secs(60), 5, LEASE)
        .await
        .unwrap();
    assert_eq!(got.iter().map(|l| l.job.id).collect::<Vec<_>>(), vec![late]);
}

/// `retry_at` records and spends the attempt; `defer` spends nothing.
pub async fn retry_spends_an_attempt_defer_does_not<Q: Queue>(q: &Q) {
    let now = t0();
    let id = q.enqueue(job("ep", "evt", now)).await.unwrap();
    let l = q.lease(now, 1, LEASE).await.unwrap().remove(0);
    let later = now + Duration::from_secs(5);
    q.retry_at(&l.token, later, status(1, now, 500))
        .await
        .unwrap();
    assert_eq!(
        q.get(id).await.unwrap().unwrap().state,
        JobState::Scheduled { due_at: later }
    );
    assert!(
        q.lease(later - Duration::from_millis(1), 1, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "not due before `at`"
    );

    let l = q.lease(later, 1, LEASE).await.unwrap().remove(0);
    assert_eq!(l.attempt, 2, "retry_at spent attempt 1");
    assert_eq!(l.job.attempts, 1);
    let much_later = later + Duration::from_secs(300);
    q.defer(&l.token, much_later).await.unwrap();
    let l = q.lease(much_later, 1, LEASE).await.unwrap().remove(0);
    assert_eq!(l.attempt, 2, "defer spends no attempt");
    q.retry_at(&l.token, much_later, failed(2, much_later))
        .await
        .unwrap();
    let rec = q.get(id).await.unwrap().unwrap();
    assert_eq!(
        rec.attempts,
        vec![status(1, now, 500), failed(2, much_later)],
        "history in order"
    );
    assert_eq!(rec.job.attempts, 2);
}

/// A reaped lease's token, and a token used once, fail with `LeaseLost`.
pub async fn stale_tokens_fail_with_lease_lost<Q: Queue>(q: &Q) {
    let now = t0();
    let id = q.enqueue(job("ep", "evt", now)).await.unwrap();
    let l = q.lease(now, 1, LEASE).await.unwrap().remove(0);
    assert_eq!(
        q.reap(now + LEASE - Duration::from_millis(1))
            .await
            .unwrap(),
        0,
        "a live lease is not reaped"
    );
    let after = now + LEASE + Duration::from_secs(1);
    assert_eq!(q.reap(after).await.unwrap(), 1, "a lapsed lease is reaped");
    assert!(matches!(
        q.get(id).await.unwrap().unwrap().state,
        JobState::Scheduled { .. }
    ));
    assert!(matches!(
        q.ack(&l.token, status(1, now, 200)).await,
        Err(QueueError::LeaseLost)
    ));
    assert!(matches!(
        q.retry_at(&l.token, after, status(1, now, 500)).await,
        Err(QueueError::LeaseLost)
    ));
    assert!(matches!(
        q.defer(&l.token, after).await,
        Err(QueueError::LeaseLost)
    ));
    assert!(matches!(
        q.dead_letter(&l.token, after, None, DeadLetterReason::EndpointDisabled)
            .await,
        Err(QueueError::LeaseLost)
    ));
    assert!(matches!(
        q.release(&l.token).await,
        Err(QueueError::LeaseLost)
    ));
    assert!(matches!(
        q.extend(&l.token, after + LEASE).await,
        Err(QueueError::LeaseLost)
    ));

    let l2 = q.lease(after, 1, LEASE).await.unwrap().remove(0);
    assert_eq!(l2.job.id, id);
    assert_eq!(l2.attempt, 1, "a reaped lease spent no attempt");
    assert_ne!(l2.token, l.token, "a new lease gets a new token");
    q.ack(&l2.token, status(1, after, 200)).await.unwrap();
    assert!(
        matches!(
            q.ack(&l2.token, status(1, after, 200)).await,
            Err(QueueError::LeaseLost)
        ),
        "ack twice"
    );
    assert_eq!(
        q.get(id).await.unwrap().unwrap().attempts.len(),
        1,
        "a failed call records nothing"
    );
}

/// `extend` keeps a lease from being reaped; `release` makes the job due at once without spending an attempt.
pub async fn extend_and_release<Q: Queue>(q: &Q) {
    let now = t0();
    let id = q.enqueue(job("ep", "evt", now)).await.unwrap();
    let l = q.lease(now, 1, LEASE).await.unwrap().remove(0);
    let until = now + LEASE * 3;
    q.extend(&l.token, until).await.unwrap();
    assert_eq!(
        q.get(id).await.unwrap().unwrap().state,
        JobState::InFlight { until }
    );
    assert_eq!(
        q.reap(now + LEASE * 2).await.unwrap(),
        0,
        "an extended lease is not reaped"
    );
    q.release(&l.token).await.unwrap();
    let l = q.lease(now, 1, LEASE).await.unwrap();
    assert_eq!(l.len(), 1, "a released job is due at once");
    assert_eq!(l[0].attempt, 1, "release spends no attempt");
}

async fn kill<Q: Queue>(
    q: &Q,
    endpoint: &str,
    event: &str,
    at: Timestamp,
    reason: DeadLetterReason,
) -> crate::JobId {
    let id = q.enqueue(job(endpoint, event, at)).await.unwrap();
    let leased = q.lease(at, 100, LEASE).await.unwrap();
    let l = leased
        .iter()
        .find(|l| l.job.id == id)
        .expect("just enqueued job is due");
    for other in leased.iter().filter(|l| l.job.id != id) {
        q.release(&other.token).await.unwrap();
    }
    q.dead_letter(&l.token, at, Some(status(1, at, 404)), reason)
        .await
        .unwrap();
    id
}

/// Dead letters keep their history and list oldest first, filtered by endpoint and time, page by page.
pub async fn dead_letters_list_filter_and_page<Q: Queue>(q: &Q) {
    let now = t0();
    let s = Duration::from_secs(1);
    let a1 = kill(q, "ep_a", "1", now, DeadLetterReason::PermanentStatus(404)).await;
    let b1 = kill(q, "ep_b", "2", now + s, DeadLetterReason::EndpointGone).await;
    let a2 = kill(
        q,
        "ep_a",
        "3",
        now + s * 2,
        DeadLetterReason::AttemptsExhausted,
    )
    .await;
    let a3 = kill(
        q,
        "ep_a",
        "4",
        now + s * 3,
        DeadLetterReason::PermanentStatus(422),
    )
    .await;

    let rec = q.get(b1).await.unwrap().unwrap();
    assert_eq!(
        rec.state,
        JobState::Dead {
            at: now + s,
            reason: DeadLetterReason::EndpointGone
        }
    );
    assert_eq!(
        rec.attempts,
        vec![status(1, now + s, 404)],
        "dead_letter records the attempt"
    );
    assert!(
        q.lease(now + s * 100, 10, LEASE).await.unwrap().is_empty(),
        "dead letters are never leased"
    );

    let all = q
        .dead_letters(&DeadLetterFilter::all(), Page::first(10))
        .await
        .unwrap();
    assert_eq!(
        all.items.iter().map(|r| r.job.id).collect::<Vec<_>>(),
        vec![a1, b1, a2, a3]
    );
    assert_eq!(all.next, None, "a short page is the last");

    let filter = DeadLetterFilter::endpoint("ep_a");
    let p1 = q.dead_letters(&filter, Page::first(2)).await.unwrap();
    assert_eq!(
        p1.items.iter().map(|r| r.job.id).collect::<Vec<_>>(),
        vec![a1, a2]
    );
    let p2 = q
        .dead_letters(
            &filter,
            Page {
                limit: 2,
                after: p1.next,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        p2.items.iter().map(|r| r.job.id).collect::<Vec<_>>(),
        vec![a3]
    );
    assert_eq!(p2.next, None);

    let window = DeadLetterFilter {
        endpoint_id: None,
        since: Some(now + s),
        before: Some(now + s * 3),
    };
    let w = q.dead_letters(&window, Page::first(10)).await.unwrap();
    assert_eq!(
        w.items.iter().map(|r| r.job.id).collect::<Vec<_>>(),
        vec![b1, a2],
        "since inclusive, before exclusive"
    );
}

/// Replay gives a fresh budget and keeps history; purge deletes; neither touches jobs that are not dead.
pub async fn replay_and_purge<Q: Queue>(q: &Q) {
    let now = t0();
    let s = Duration::from_secs(1);
    let a1 = kill(q, "ep_a", "1", now, DeadLetterReason::AttemptsExhausted).await;
    let a2 = kill(q, "ep_a", "2", now + s, DeadLetterReason::AttemptsExhausted).await;
    let b1 = kill(
        q,
        "ep_b",
        "3",
        now + s * 2,
        DeadLetterReason::AttemptsExhausted,
    )
    .await;
    let live = q
        .enqueue(job("ep_a", "live", now).scheduled_at(now + s * 1000))
        .await
        .unwrap();

    let later = now + s * 10;
    q.replay(a1, later).await.unwrap();
    let rec = q.get(a1).await.unwrap().unwrap();
    assert_eq!(rec.state, JobState::Scheduled { due_at: later });
    assert_eq!(rec.job.attempts, 0, "fresh attempt budget");
    assert_eq!(rec.attempts.len(), 1, "history kept");
    assert!(
        matches!(q.replay(a1, later).await, Err(QueueError::NotFound(id)) if id == a1),
        "not dead any more"
    );
    assert!(matches!(
        q.replay(live, later).await,
        Err(QueueError::NotFound(_))
    ));
    let l = q.lease(later, 10, LEASE).await.unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!((l[0].job.id, l[0].attempt), (a1, 1));
    q.ack(&l[0].token, status(1, later, 200)).await.unwrap();
    assert_eq!(q.get(a1).await.unwrap().unwrap().attempts.len(), 2);

    assert_eq!(
        q.replay_all(&DeadLetterFilter::endpoint("ep_b"), later)
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        q.get(b1).await.unwrap().unwrap().state,
        JobState::Scheduled { .. }
    ));

    assert_eq!(
        q.purge(&DeadLetterFilter::all()).await.unwrap(),
        1,
        "only a2 is still dead"
    );
    assert_eq!(q.get(a2).await.unwrap(), None, "purged");
    assert!(
        q.get(live).await.unwrap().is_some(),
        "purge leaves live jobs alone"
    );
    assert_eq!(q.stats(later).await.unwrap().dead, 0);
}

/// `stats` counts due, scheduled, in-flight and dead jobs at `now`.
pub async fn stats_count_each_state<Q: Queue>(q: &Q) {
    let now = t0();
    let s = Duration::from_secs(1);
    kill(q, "ep", "dead", now, DeadLetterReason::AttemptsExhausted).await;
    q.enqueue(job("ep", "flight", now)).await.unwrap();
    let _held = q.lease(now, 1, LEASE).await.unwrap();
    q.enqueue(job("ep", "due", now)).await.unwrap();
    q.enqueue(job("ep", "later", now).scheduled_at(now + s * 10))
        .await
        .unwrap();
    let stats = q.stats(now).await.unwrap();
    assert_eq!(
        (stats.due, stats.scheduled, stats.in_flight, stats.dead),
        (1, 1, 1, 1)
    );
    let stats = q.stats(now + s * 10).await.unwrap();
    assert_eq!((stats.due, stats.scheduled), (2, 0), "due depends on now");
}

/// Endpoints are enabled until disabled.
pub async fn endpoint_state<Q: Queue>(q: &Q) {
    assert!(q.is_enabled("ep").await.unwrap());
    q.set_enabled("ep", false).await.unwrap();
    assert!(!q.is_enabled("ep").await.unwrap());
    assert!(q.is_enabled("other").await.unwrap());
    q.set_enabled("ep", true).await.unwrap();
    assert!(q.is_enabled("ep").await.unwrap());
}

/// Delivered jobs and old attempts of live jobs go; dead letters keep everything.
pub async fn prune_removes_delivered_jobs_and_old_attempts<Q: Queue>(q: &Q) {
    let now = t0();
    let hour = Duration::from_secs(3600);
    let delivered = q.enqueue(job("ep", "delivered", now)).await.unwrap();
    let l = q.lease(now, 1, LEASE).await.unwrap().remove(0);
    q.ack(&l.token, status(1, now, 200)).await.unwrap();
    let retrying = q.enqueue(job("ep", "retrying", now)).await.unwrap();
    let l = q.lease(now, 1, LEASE).await.unwrap().remove(0);
    q.retry_at(&l.token, now + hour * 2, status(1, now, 503))
        .await
        .unwrap();
    let dead = kill(q, "ep", "dead", now, DeadLetterReason::AttemptsExhausted).await;
    let fresh = q.enqueue(job("ep", "fresh", now + hour * 2)).await.unwrap();
    let leased = q.lease(now + hour * 2, 10, LEASE).await.unwrap();
    assert_eq!(leased.len(), 2);
    for l in leased {
        if l.job.id == fresh {
            q.ack(&l.token, status(1, now + hour * 2, 200))
                .await
                .unwrap();
        } else {
            assert_eq!(l.job.id, retrying);
            q.retry_at(&l.token, now + hour * 5, status(2, now + hour * 2, 503))
                .await
                .unwrap();
        }
    }

    assert_eq!(
        q.prune(now + hour).await.unwrap(),
        1,
        "one delivered job is older than the cut"
    );
    assert_eq!(q.get(delivered).await.unwrap(), None);
    assert!(
        q.get(fresh).await.unwrap().is_some(),
        "recent deliveries stay"
    );
    let rec = q.get(retrying).await.unwrap().unwrap();
    assert_eq!(
        rec.attempts,
        vec![status(2, now + hour * 2, 503)],
        "old attempts of live jobs go"
    );
    assert_eq!(
        rec.job.attempts, 2,
        "pruning history does not refund attempts"
    );
    assert_eq!(
        q.get(dead).await.unwrap().unwrap().attempts.len(),
        1,
        "dead letters keep their history"
    );
    let again = q
        .enqueue(job("ep", "delivered", now + hour * 3))
        .await
        .unwrap();
    assert_ne!(again, delivered, "after pruning, the event id is new again");
}

/// Many concurrent leasers: every job is leased exactly once.
pub async fn concurrent_leases_never_share_a_job<Q: Queue>(q: Arc<Q>) {
    const JOBS: usize = 200;
    const LEASERS: usize = 8;
    let now = t0();
    for i in 0..JOBS {
        q.enqueue(job("ep", &format!("evt_{i}"), now))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..LEASERS {
        let q = Arc::clone(&q);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let leased = q.lease(now, 3, LEASE).await.unwrap();
                if leased.is_empty() {
                    break got;
                }
                for l in leased {
                    q.ack(&l.token, status(1, now, 200)).await.unwrap();
                    got.push(l.job.id);
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("leaser task"));
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, JOBS, "every job leased");
    assert_eq!(all.len(), JOBS, "no job leased twice");
}
