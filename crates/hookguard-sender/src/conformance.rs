//! The queue conformance suite: generic `async fn`s that every [`Queue`] backend must pass.
//!
//! Not a stable API (hidden from the docs, behind the `conformance` feature): it exists so that every backend,
//! in this crate or elsewhere, is held to the same contract. Each check gets a fresh queue from `make`; the
//! checks panic with a message naming the broken rule. [`run_shared`] also needs two handles on one backend
//! (two "processes"), to check that leases are exclusive and endpoint state is shared across them.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use hookguard_sender::{BoxedQueue, MemoryQueue, conformance};
//! conformance::run(|| async { MemoryQueue::new() }).await;
//! conformance::run_shared(|| async {
//!     let q = BoxedQueue::new(MemoryQueue::new());
//!     (q.clone(), q)
//! })
//! .await;
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::{
    Attempt, AttemptErrorKind, AttemptResult, DeadLetterFilter, DeadLetterReason, EndpointState,
    JobId, JobState, LeaseHandle, LeaseOptions, Leased, NewJob, Page, Queue, QueueError,
    QueueStats, Timestamp, Transition,
};

const LEASE: Duration = Duration::from_secs(60);
const S: Duration = Duration::from_secs(1);

/// How heavy the concurrent checks are.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Jobs in the concurrent-leasing check (default 200).
    pub jobs: usize,
    /// Concurrent leasers or enqueuers (default 8).
    pub tasks: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            jobs: 200,
            tasks: 8,
        }
    }
}

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
    .expect("a valid job")
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

async fn lease<Q: Queue>(q: &Q, now: Timestamp, max: usize) -> Vec<Leased> {
    q.lease(now, max, LEASE, &LeaseOptions::all())
        .await
        .expect("lease")
        .jobs
}

async fn one<Q: Queue>(
    q: &Q,
    now: Timestamp,
    handle: &LeaseHandle,
    t: Transition,
) -> Result<(), QueueError> {
    let mut r = q
        .conclude(now, vec![(handle.clone(), t)])
        .await
        .expect("conclude");
    assert_eq!(r.len(), 1, "one result per item");
    r.remove(0)
}

async fn ack<Q: Queue>(q: &Q, l: &Leased, at: Timestamp) {
    one(
        q,
        at,
        &l.handle,
        Transition::Ack {
            attempt: status(l.attempt, at, 200),
        },
    )
    .await
    .expect("ack");
}

fn ids(leased: &[Leased]) -> Vec<JobId> {
    leased.iter().map(|l| l.job.id).collect()
}

fn dead(reason: DeadLetterReason, attempt: Option<Attempt>) -> Transition {
    Transition::DeadLetter {
        reason,
        attempt,
        disable_endpoint: false,
    }
}

/// Runs every single-handle check with the default [`Options`], each against a fresh queue from `make`.
pub async fn run<Q, F, Fut>(make: F)
where
    Q: Queue,
    F: FnMut() -> Fut,
    Fut: Future<Output = Q>,
{
    run_with(make, Options::default()).await;
}

/// Runs every single-handle check, each against a fresh queue from `make`.
pub async fn run_with<Q, F, Fut>(mut make: F, options: Options)
where
    Q: Queue,
    F: FnMut() -> Fut,
    Fut: Future<Output = Q>,
{
    enqueue_lease_ack(&make().await).await;
    enqueue_many_is_one_step_and_dedupes(&make().await).await;
    dedupe_covers_delivered_and_dead_jobs(&make().await).await;
    concurrent_enqueues_of_one_key_make_one_job(Arc::new(make().await), options).await;
    payloads_round_trip_byte_for_byte(&make().await).await;
    lease_respects_due_time_fifo_and_max(&make().await).await;
    lease_is_endpoint_aware(&make().await).await;
    retry_spends_an_attempt_defer_does_not(&make().await).await;
    conclude_reports_each_item(&make().await).await;
    stale_handles_fail_with_lease_lost_and_change_nothing(&make().await).await;
    a_lapsed_but_unreaped_lease_may_still_conclude(&make().await).await;
    extend_and_release(&make().await).await;
    lapses_are_counted_and_reset_by_an_attempt(&make().await).await;
    reap_and_expire_are_bounded(&make().await).await;
    dead_letters_list_filter_and_page(&make().await).await;
    pagination_edges(&make().await).await;
    replay_and_purge(&make().await).await;
    replay_and_purge_by_reason(&make().await).await;
    replay_refuses_a_disabled_endpoint(&make().await).await;
    stats_count_each_state(&make().await).await;
    endpoint_state(&make().await).await;
    prune_removes_finished_jobs_only(&make().await).await;
    concurrent_leases_never_share_a_job(Arc::new(make().await), options).await;
}

/// Two handles on one backend (two "processes"): leases are exclusive across them, state is shared.
pub async fn run_shared<Q, F, Fut>(mut make: F)
where
    Q: Queue,
    F: FnMut() -> Fut,
    Fut: Future<Output = (Q, Q)>,
{
    let (a, b) = make().await;
    let now = t0();
    for i in 0..10 {
        a.enqueue(job("ep", &format!("e{i}"), now)).await.unwrap();
    }
    let from_a = lease(&a, now, 4).await;
    let from_b = lease(&b, now, 100).await;
    assert_eq!((from_a.len(), from_b.len()), (4, 6), "each job leased once");
    assert!(
        ids(&from_a).iter().all(|id| !ids(&from_b).contains(id)),
        "no job leased by both processes"
    );
    ack(&b, &from_a[0], now).await;
    assert!(
        matches!(
            b.get(from_a[0].job.id).await.unwrap().unwrap().state,
            JobState::Delivered { .. }
        ),
        "a lease from one process can be concluded through another handle"
    );
    let again = b.enqueue(job("ep", "e0", now + S)).await.unwrap();
    assert_eq!(again, from_a[0].job.id, "dedupe is shared");

    let paused = EndpointState {
        enabled: true,
        paused_until: Some(now + S * 60),
        reason: Some("maintenance".into()),
        changed_at: Some(now),
    };
    a.set_endpoint_state("ep", paused.clone()).await.unwrap();
    assert_eq!(
        b.endpoint_state("ep").await.unwrap(),
        paused,
        "endpoint state is seen by every process"
    );
    assert_eq!(
        b.endpoint_states().await.unwrap(),
        vec![("ep".to_owned(), paused)]
    );
}

/// A job goes scheduled → in flight → delivered, with its attempt recorded.
pub async fn enqueue_lease_ack<Q: Queue>(q: &Q) {
    let now = t0();
    let id = q.enqueue(job("ep", "evt_1", now)).await.unwrap();
    let rec = q.get(id).await.unwrap().expect("enqueued job is found");
    assert_eq!(rec.state, JobState::Scheduled { due_at: now });
    assert_eq!(rec.job.attempts, 0);
    assert_eq!(rec.job.event_id, "evt_1");
    assert_eq!(rec.job.created_at, now);
    assert_eq!(rec.job.payload, Bytes::from_static(b"{\"id\":\"evt_1\"}"));

    let leased = lease(q, now, 10).await;
    assert_eq!(ids(&leased), vec![id], "the due job is leased");
    assert_eq!(leased[0].handle.id, id, "the handle names the job");
    assert_eq!(leased[0].attempt, 1);
    assert_eq!(
        q.get(id).await.unwrap().unwrap().state,
        JobState::InFlight { until: now + LEASE }
    );
    assert!(
        lease(q, now, 10).await.is_empty(),
        "a leased job is not leased twice"
    );

    ack(q, &leased[0], now).await;
    let rec = q.get(id).await.unwrap().unwrap();
    assert_eq!(rec.state, JobState::Delivered { at: now });
    assert_eq!(rec.job.attempts, 1);
    assert_eq!(
        rec.attempts,
        vec![status(1, now, 200)],
        "ack records the attempt"
    );
    assert!(
        lease(q, now + LEASE * 3, 10).await.is_empty(),
        "delivered jobs are never leased"
    );
}

/// `enqueue_many` returns ids in order; equal keys (in the call or already stored) are one job.
pub async fn enqueue_many_is_one_step_and_dedupes<Q: Queue>(q: &Q) {
    let now = t0();
    let ids = q
        .enqueue_many(vec![
            job("ep_a", "evt", now),
            job("ep_b", "evt", now),
            job("ep_a", "evt", now),
        ])
        .await
        .unwrap();
    assert_eq!(ids.len(), 3, "one id per job given");
    assert_ne!(ids[0], ids[1], "another endpoint gets its own job");
    assert_eq!(ids[0], ids[2], "the same key twice in one call is one job");
    let again = q.enqueue(job("ep_a", "evt", now + S)).await.unwrap();
    assert_eq!(
        again, ids[0],
        "same endpoint and event id returns the existing job"
    );
    assert_eq!(lease(q, now, 10).await.len(), 2);
    assert!(q.enqueue_many(Vec::new()).await.unwrap().is_empty());
}

/// Dedupe covers every state: a delivered job and a dead letter still own their key.
pub async fn dedupe_covers_delivered_and_dead_jobs<Q: Queue>(q: &Q) {
    let now = t0();
    let delivered = q.enqueue(job("ep", "delivered", now)).await.unwrap();
    let dead_id = q.enqueue(job("ep", "dead", now)).await.unwrap();
    for l in lease(q, now, 10).await {
        if l.job.id == delivered {
            ack(q, &l, now).await;
        } else {
            one(
                q,
                now,
                &l.handle,
                dead(DeadLetterReason::PermanentStatus(404), None),
            )
            .await
            .unwrap();
        }
    }
    let again = q
        .enqueue_many(vec![
            job("ep", "delivered", now + S),
            job("ep", "dead", now + S),
        ])
        .await
        .unwrap();
    assert_eq!(
        again,
        vec![delivered, dead_id],
        "delivered and dead jobs dedupe"
    );
    assert!(
        lease(q, now + S, 10).await.is_empty(),
        "nothing new to lease"
    );
}

/// Concurrent enqueues of one key make one job.
pub async fn concurrent_enqueues_of_one_key_make_one_job<Q: Queue>(q: Arc<Q>, options: Options) {
    let now = t0();
    let mut tasks = Vec::new();
    for _ in 0..options.tasks.max(2) {
        let q = Arc::clone(&q);
        tasks.push(tokio::spawn(async move {
            q.enqueue(job("ep", "racy", now)).await.unwrap()
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.expect("enqueuer task"));
    }
    got.dedup();
    assert_eq!(got.len(), 1, "one job for one key: {got:?}");
}

/// Binary payloads and non-ASCII bodies come back byte for byte.
pub async fn payloads_round_trip_byte_for_byte<Q: Queue>(q: &Q) {
    let now = t0();
    let binary: Vec<u8> = (0..=255).collect();
    let a = q
        .enqueue(NewJob::new("ep", "bin", "t", Bytes::from(binary.clone()), now).unwrap())
        .await
        .unwrap();
    let text = "{\"name\":\"Zoë — 東京 🚀\"}";
    let b = q
        .enqueue(NewJob::new("ep", "utf8", "t.é", Bytes::from(text), now).unwrap())
        .await
        .unwrap();
    assert_eq!(
        q.get(a).await.unwrap().unwrap().job.payload,
        Bytes::from(binary)
    );
    let rec = q.get(b).await.unwrap().unwrap();
    assert_eq!(rec.job.payload, Bytes::from(text));
    assert_eq!(rec.job.event_type, "t.é");
    let l = lease(q, now, 10).await;
    let mut attempt = status(1, now, 500);
    attempt.response_body = "erreur: ça ne va pas ✗".into();
    let lb = l.iter().find(|l| l.job.id == b).unwrap();
    one(
        q,
        now,
        &lb.handle,
        Transition::RetryAt {
            at: now + S,
            attempt: attempt.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(q.get(b).await.unwrap().unwrap().attempts, vec![attempt]);
}

/// Earliest due first; FIFO among jobs due at one instant; not-yet-due jobs wait; `max` bounds a lease.
pub async fn lease_respects_due_time_fifo_and_max<Q: Queue>(q: &Q) {
    let now = t0();
    let late = q
        .enqueue(job("ep", "late", now).scheduled_at(now + S * 30))
        .await
        .unwrap();
    let mid = q
        .enqueue(job("ep", "mid", now).scheduled_at(now + S * 10))
        .await
        .unwrap();
    let early = q.enqueue(job("ep", "early", now)).await.unwrap();
    assert_eq!(
        ids(&lease(q, now, 10).await),
        vec![early],
        "only due jobs are leased"
    );
    assert_eq!(
        ids(&lease(q, now + S * 60, 1).await),
        vec![mid],
        "earliest due first, at most max"
    );
    assert_eq!(ids(&lease(q, now + S * 60, 5).await), vec![late]);

    let at = now + S * 100;
    let mut fifo = Vec::new();
    for i in 0..12 {
        fifo.push(
            q.enqueue(job("ep", &format!("same_{i}"), now).scheduled_at(at))
                .await
                .unwrap(),
        );
    }
    let mut got = ids(&lease(q, at, 5).await);
    got.extend(ids(&lease(q, at, 100).await));
    assert_eq!(got, fifo, "FIFO among jobs due at one instant");
}

/// `exclude`, `caps` and `default_cap` are honoured; endpoints take turns; `next_due` ignores held-back ones.
pub async fn lease_is_endpoint_aware<Q: Queue>(q: &Q) {
    let now = t0();
    let mut a = Vec::new();
    for i in 0..5 {
        a.push(q.enqueue(job("a", &format!("a{i}"), now)).await.unwrap());
    }
    let b0 = q.enqueue(job("b", "b0", now + S)).await.unwrap();
    let b1 = q.enqueue(job("b", "b1", now + S)).await.unwrap();
    let c0 = q
        .enqueue(job("c", "c0", now).scheduled_at(now + S * 5))
        .await
        .unwrap();
    let later = now + S * 2;

    let mut only_b = LeaseOptions::all();
    only_b.exclude.insert("a".into());
    let got = q.lease(later, 10, LEASE, &only_b).await.unwrap();
    assert_eq!(
        ids(&got.jobs),
        vec![b0, b1],
        "excluded endpoints give nothing"
    );
    assert_eq!(
        got.next_due,
        Some(now + S * 5),
        "next_due ignores excluded endpoints: c's job"
    );
    for l in &got.jobs {
        one(q, later, &l.handle, Transition::Release).await.unwrap();
    }

    let mut capped = LeaseOptions::all();
    capped.caps.insert("a".into(), 2);
    capped.default_cap = 1;
    let got = q.lease(later, 10, LEASE, &capped).await.unwrap();
    let mut got_ids = ids(&got.jobs);
    assert_eq!(
        got_ids.len(),
        3,
        "a's cap 2 plus b's default cap 1: {got_ids:?}"
    );
    assert_eq!(
        got.jobs[0].job.id, a[0],
        "round-robin starts with the endpoint whose oldest due job is oldest"
    );
    assert_eq!(got.jobs[1].job.endpoint_id, "b", "then the next endpoint");
    assert_eq!(got.jobs[2].job.id, a[1]);
    assert_eq!(
        got.next_due,
        Some(now + S * 5),
        "capped-out endpoints are not next_due"
    );
    got_ids.sort();
    for l in &got.jobs {
        one(q, later, &l.handle, Transition::Release).await.unwrap();
    }

    let mut zero = LeaseOptions::all();
    zero.caps.insert("a".into(), 0);
    zero.caps.insert("b".into(), 0);
    let got = q.lease(now + S * 10, 10, LEASE, &zero).await.unwrap();
    assert_eq!(ids(&got.jobs), vec![c0], "a cap of zero is like exclusion");
    assert_eq!(got.next_due, None);
    let all = q
        .lease(now + S * 10, 3, LEASE, &LeaseOptions::all())
        .await
        .unwrap();
    assert_eq!(all.jobs.len(), 3);
    assert!(
        all.next_due.is_some_and(|d| d <= now + S * 10),
        "stopped at max: more is due now"
    );
}

/// A retry-at records and spends the attempt; a defer spends nothing.
pub async fn retry_spends_an_attempt_defer_does_not<Q: Queue>(q: &Q) {
    let now = t0();
    let id = q.enqueue(job("ep", "evt", now)).await.unwrap();
    let l = lease(q, now, 1).await.remove(0);
    let later = now + S * 5;
    one(
        q,
        now,
        &l.handle,
        Transition::RetryAt {
            at: later,
            attempt: status(1, now, 500),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        q.get(id).await.unwrap().unwrap().state,
        JobState::Scheduled { due_at: later }
    );
    assert!(
        lease(q, later - Duration::from_millis(1), 1)
            .await
            .is_empty(),
        "not due before `at`"
    );
    let l = lease(q, later, 1).await.remove(0);
    assert_eq!(
        (l.attempt, l.job.attempts),
        (2, 1),
        "retry-at spent attempt 1"
    );
    let much_later = later + S * 300;
    one(q, later, &l.handle, Transition::Defer { at: much_later })
        .await
        .unwrap();
    let l = lease(q, much_later, 1).await.remove(0);
    assert_eq!(l.attempt, 2, "defer spends no attempt");
    one(
        q,
        much_later,
        &l.handle,
        Transition::RetryAt {
            at: much_later,
            attempt: failed(2, much_later),
        },
    )
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

/// One `conclude` with every kind of transition and a stale handle: one result per item, in order.
pub async fn conclude_reports_each_item<Q: Queue>(q: &Q) {
    let now = t0();
    for i in 0..6 {
        q.enqueue(job("ep", &format!("m{i}"), now)).await.unwrap();
    }
    let l = lease(q, now, 6).await;
    assert_eq!(l.len(), 6);
    let stale = LeaseHandle {
        id: l[5].job.id,
        token: crate::LeaseToken::random(),
    };
    let batch = vec![
        (
            l[0].handle.clone(),
            Transition::Ack {
                attempt: status(1, now, 200),
            },
        ),
        (
            l[1].handle.clone(),
            Transition::RetryAt {
                at: now + S,
                attempt: status(1, now, 503),
            },
        ),
        (l[2].handle.clone(), Transition::Defer { at: now + S * 2 }),
        (stale, Transition::Release),
        (
            l[3].handle.clone(),
            Transition::DeadLetter {
                reason: DeadLetterReason::EndpointGone,
                attempt: Some(status(1, now, 410)),
                disable_endpoint: true,
            },
        ),
        (l[4].handle.clone(), Transition::Release),
    ];
    let results = q.conclude(now, batch).await.unwrap();
    assert_eq!(results.len(), 6, "one result per item");
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            assert!(matches!(r, Err(QueueError::LeaseLost)), "item {i}: {r:?}");
        } else {
            assert!(r.is_ok(), "item {i}: {r:?}");
        }
    }
    let state = |i: usize| {
        let id = l[i].job.id;
        async move { q.get(id).await.unwrap().unwrap().state }
    };
    assert_eq!(state(0).await, JobState::Delivered { at: now });
    assert_eq!(state(1).await, JobState::Scheduled { due_at: now + S });
    assert_eq!(
        state(2).await,
        JobState::Scheduled {
            due_at: now + S * 2
        }
    );
    assert_eq!(
        state(3).await,
        JobState::Dead {
            at: now,
            reason: DeadLetterReason::EndpointGone
        }
    );
    assert_eq!(
        state(4).await,
        JobState::Scheduled { due_at: now },
        "released: due at once"
    );
    assert_eq!(
        state(5).await,
        JobState::InFlight { until: now + LEASE },
        "the stale handle changed nothing"
    );
    let ep = q.endpoint_state("ep").await.unwrap();
    assert!(!ep.enabled, "disable_endpoint disables in the same call");
    assert_eq!(ep.changed_at, Some(now));
    assert!(q.conclude(now, Vec::new()).await.unwrap().is_empty());
}

/// A reaped lease's handle, and a handle used once, fail with `LeaseLost`; a stale handle while a newer lease
/// is live leaves the new holder intact.
pub async fn stale_handles_fail_with_lease_lost_and_change_nothing<Q: Queue>(q: &Q) {
    let now = t0();
    let id = q.enqueue(job("ep", "evt", now)).await.unwrap();
    let l = lease(q, now, 1).await.remove(0);
    assert_eq!(
        q.reap(now + LEASE - Duration::from_millis(1), 3, 100)
            .await
            .unwrap(),
        (0, false),
        "a live lease is not reaped"
    );
    let after = now + LEASE + S;
    assert_eq!(
        q.reap(after, 3, 100).await.unwrap(),
        (1, false),
        "a lapsed lease is reaped"
    );
    assert!(matches!(
        q.get(id).await.unwrap().unwrap().state,
        JobState::Scheduled { .. }
    ));
    let l2 = lease(q, after, 1).await.remove(0);
    assert_eq!(l2.job.id, id);
    assert_eq!(l2.attempt, 1, "a reaped lease spent no attempt");
    assert_ne!(
        l2.handle.token, l.handle.token,
        "a new lease gets a new token"
    );

    let transitions = [
        Transition::Ack {
            attempt: status(1, now, 200),
        },
        Transition::RetryAt {
            at: after,
            attempt: status(1, now, 500),
        },
        Transition::Defer { at: after },
        dead(DeadLetterReason::EndpointDisabled, None),
        Transition::Release,
    ];
    for t in transitions {
        let name = t.name();
        assert!(
            matches!(
                one(q, after, &l.handle, t).await,
                Err(QueueError::LeaseLost)
            ),
            "{name} with a stale handle"
        );
    }
    assert!(matches!(
        q.extend(&l.handle, after + LEASE, after).await,
        Err(QueueError::LeaseLost)
    ));
    assert_eq!(
        q.get(id).await.unwrap().unwrap().state,
        JobState::InFlight {
            until: after + LEASE
        },
        "the new holder's lease is intact"
    );
    ack(q, &l2, after).await;
    assert!(
        matches!(
            one(q, after, &l2.handle, Transition::Release).await,
            Err(QueueError::LeaseLost)
        ),
        "a handle ends its lease once"
    );
    assert_eq!(
        q.get(id).await.unwrap().unwrap().attempts.len(),
        1,
        "a failed call records nothing"
    );
}

/// Only `reap` takes a lease away: a lapsed handle may still conclude and extend until then.
pub async fn a_lapsed_but_unreaped_lease_may_still_conclude<Q: Queue>(q: &Q) {
    let now = t0();
    let a = q.enqueue(job("ep", "a", now)).await.unwrap();
    q.enqueue(job("ep", "b", now)).await.unwrap();
    let l = lease(q, now, 2).await;
    let late = now + LEASE * 2;
    q.extend(&l[1].handle, late + LEASE, late)
        .await
        .expect("a lapsed, unreaped lease can be extended");
    let la = l.iter().find(|l| l.job.id == a).unwrap();
    ack(q, la, late).await;
    assert!(matches!(
        q.get(a).await.unwrap().unwrap().state,
        JobState::Delivered { .. }
    ));
    assert_eq!(
        q.reap(late + S, 3, 100).await.unwrap(),
        (0, false),
        "the extended lease is live again"
    );
}

/// `extend` keeps a lease from being reaped; `release` makes the job due at once without spending an attempt.
pub async fn extend_and_release<Q: Queue>(q: &Q) {
    let now = t0();
    let id = q.enqueue(job("ep", "evt", now)).await.unwrap();
    let l = lease(q, now, 1).await.remove(0);
    let until = now + LEASE * 3;
    q.extend(&l.handle, until, now).await.unwrap();
    assert_eq!(
        q.get(id).await.unwrap().unwrap().state,
        JobState::InFlight { until }
    );
    assert_eq!(
        q.reap(now + LEASE * 2, 3, 100).await.unwrap(),
        (0, false),
        "an extended lease is not reaped"
    );
    let later = now + S * 10;
    one(q, later, &l.handle, Transition::Release).await.unwrap();
    let l = lease(q, later, 1).await;
    assert_eq!(l.len(), 1, "a released job is due at once");
    assert_eq!(l[0].attempt, 1, "release spends no attempt");
}

/// Consecutive lapses are counted; a recorded attempt resets them; `max_lapses` dead-letters `lease-expired`.
pub async fn lapses_are_counted_and_reset_by_an_attempt<Q: Queue>(q: &Q) {
    let mut now = t0();
    let id = q.enqueue(job("ep", "poison", now)).await.unwrap();
    let lapse = |now: Timestamp| async move {
        let l = lease(q, now, 1).await;
        assert_eq!(l.len(), 1, "the job is due");
        q.reap(now + LEASE + S, 3, 100).await.unwrap()
    };
    assert_eq!(lapse(now).await, (1, false));
    now = now + LEASE + S;
    assert_eq!(lapse(now).await, (1, false));
    now = now + LEASE + S;
    // A recorded attempt resets the count.
    let l = lease(q, now, 1).await.remove(0);
    one(
        q,
        now,
        &l.handle,
        Transition::RetryAt {
            at: now,
            attempt: failed(1, now),
        },
    )
    .await
    .unwrap();
    for _ in 0..2 {
        assert_eq!(lapse(now).await, (1, false));
        now = now + LEASE + S;
        assert!(matches!(
            q.get(id).await.unwrap().unwrap().state,
            JobState::Scheduled { .. }
        ));
    }
    assert_eq!(lapse(now).await, (1, false));
    let rec = q.get(id).await.unwrap().unwrap();
    assert!(
        matches!(
            rec.state,
            JobState::Dead {
                reason: DeadLetterReason::LeaseExpired,
                ..
            }
        ),
        "the third consecutive lapse dead-letters: {:?}",
        rec.state
    );
    assert_eq!(rec.job.attempts, 1, "lapses spend no attempt");
}

/// `reap` and `expire` handle at most `limit` jobs and say whether more are left.
pub async fn reap_and_expire_are_bounded<Q: Queue>(q: &Q) {
    let now = t0();
    for i in 0..5 {
        q.enqueue(job("ep", &format!("r{i}"), now)).await.unwrap();
    }
    assert_eq!(lease(q, now, 5).await.len(), 5);
    let after = now + LEASE + S;
    assert_eq!(q.reap(after, 3, 2).await.unwrap(), (2, true));
    assert_eq!(q.reap(after, 3, 3).await.unwrap(), (3, false));
    assert_eq!(q.reap(after, 3, 0).await.unwrap(), (0, false));

    let young = q.enqueue(job("ep", "young", now + S * 100)).await.unwrap();
    assert_eq!(
        q.expire(now + S, after, 0).await.unwrap(),
        (0, true),
        "limit 0"
    );
    assert_eq!(q.expire(now + S, after, 3).await.unwrap(), (3, true));
    assert_eq!(q.expire(now + S, after, 3).await.unwrap(), (2, false));
    let page = q
        .dead_letters(&DeadLetterFilter::all(), Page::first(10))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5);
    assert!(page.items.iter().all(|r| matches!(
        r.state,
        JobState::Dead {
            reason: DeadLetterReason::Expired,
            ..
        }
    )));
    assert!(matches!(
        q.get(young).await.unwrap().unwrap().state,
        JobState::Scheduled { .. }
    ));
}

async fn kill<Q: Queue>(
    q: &Q,
    endpoint: &str,
    event: &str,
    at: Timestamp,
    reason: DeadLetterReason,
) -> JobId {
    let id = q.enqueue(job(endpoint, event, at)).await.unwrap();
    let leased = lease(q, at, 100).await;
    let l = leased
        .iter()
        .find(|l| l.job.id == id)
        .expect("just enqueued job is due");
    for other in leased.iter().filter(|l| l.job.id != id) {
        one(q, at, &other.handle, Transition::Release)
            .await
            .unwrap();
    }
    one(q, at, &l.handle, dead(reason, Some(status(1, at, 404))))
        .await
        .unwrap();
    id
}

/// Dead letters keep their history and list oldest first, filtered by endpoint and time, page by page.
pub async fn dead_letters_list_filter_and_page<Q: Queue>(q: &Q) {
    let now = t0();
    let a1 = kill(q, "ep_a", "1", now, DeadLetterReason::PermanentStatus(404)).await;
    let b1 = kill(q, "ep_b", "2", now + S, DeadLetterReason::Redirect(302)).await;
    let a2 = kill(
        q,
        "ep_a",
        "3",
        now + S * 2,
        DeadLetterReason::AttemptsExhausted,
    )
    .await;
    let a3 = kill(q, "ep_a", "4", now + S * 3, DeadLetterReason::BlockedTarget).await;

    let rec = q.get(b1).await.unwrap().unwrap();
    assert_eq!(
        rec.state,
        JobState::Dead {
            at: now + S,
            reason: DeadLetterReason::Redirect(302)
        }
    );
    assert_eq!(
        rec.attempts,
        vec![status(1, now + S, 404)],
        "dead-letter records the attempt"
    );
    assert!(
        lease(q, now + S * 100, 10).await.is_empty(),
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
        since: Some(now + S),
        before: Some(now + S * 3),
        reason: None,
    };
    let w = q.dead_letters(&window, Page::first(10)).await.unwrap();
    assert_eq!(
        w.items.iter().map(|r| r.job.id).collect::<Vec<_>>(),
        vec![b1, a2],
        "since inclusive, before exclusive"
    );
    let by_reason = |endpoint_id: Option<&str>, reason| DeadLetterFilter {
        endpoint_id: endpoint_id.map(str::to_owned),
        reason: Some(reason),
        ..DeadLetterFilter::default()
    };
    let listed = async |filter: DeadLetterFilter, limit| {
        let page = q.dead_letters(&filter, Page::first(limit)).await.unwrap();
        (
            page.items.iter().map(|r| r.job.id).collect::<Vec<_>>(),
            page.next.is_some(),
        )
    };
    assert_eq!(
        listed(by_reason(None, DeadLetterReason::PermanentStatus(404)), 10).await,
        (vec![a1], false),
        "a reason selects its own dead letters"
    );
    assert_eq!(
        listed(by_reason(None, DeadLetterReason::PermanentStatus(500)), 10).await,
        (vec![], false),
        "another status is another reason"
    );
    assert_eq!(
        listed(by_reason(Some("ep_b"), DeadLetterReason::BlockedTarget), 10).await,
        (vec![], false),
        "endpoint and reason both apply"
    );
    let blocked = by_reason(Some("ep_a"), DeadLetterReason::BlockedTarget);
    assert_eq!(
        listed(blocked, 1).await,
        (vec![a3], false),
        "a page of one skips the non-matching older ones and is the last"
    );
}

/// Equal timestamps page without loss or repeats; an exactly full last page says it is the last; limit 0.
pub async fn pagination_edges<Q: Queue>(q: &Q) {
    let now = t0();
    let mut all = Vec::new();
    for i in 0..6 {
        all.push(
            kill(
                q,
                "ep",
                &format!("same_{i}"),
                now,
                DeadLetterReason::AttemptsExhausted,
            )
            .await,
        );
    }
    let mut seen = Vec::new();
    let mut page = Page::first(2);
    loop {
        let p = q
            .dead_letters(&DeadLetterFilter::all(), page)
            .await
            .unwrap();
        seen.extend(p.items.iter().map(|r| r.job.id));
        match p.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, all, "equal timestamps: every item once, in id order");
    let full = q
        .dead_letters(&DeadLetterFilter::all(), Page::first(6))
        .await
        .unwrap();
    assert_eq!(full.items.len(), 6);
    assert_eq!(full.next, None, "an exactly full last page has no next");
    let empty = q
        .dead_letters(&DeadLetterFilter::all(), Page::first(0))
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none(), "limit 0");
}

/// Replay gives a fresh budget and keeps history; bulk replay and purge are bounded and filtered by time.
pub async fn replay_and_purge<Q: Queue>(q: &Q) {
    let now = t0();
    let a1 = kill(q, "ep_a", "1", now, DeadLetterReason::AttemptsExhausted).await;
    let a2 = kill(q, "ep_a", "2", now + S, DeadLetterReason::AttemptsExhausted).await;
    let b1 = kill(
        q,
        "ep_b",
        "3",
        now + S * 2,
        DeadLetterReason::AttemptsExhausted,
    )
    .await;
    let b2 = kill(
        q,
        "ep_b",
        "4",
        now + S * 3,
        DeadLetterReason::AttemptsExhausted,
    )
    .await;
    let b3 = kill(
        q,
        "ep_b",
        "5",
        now + S * 4,
        DeadLetterReason::AttemptsExhausted,
    )
    .await;
    let live = q
        .enqueue(job("ep_a", "live", now).scheduled_at(now + S * 1000))
        .await
        .unwrap();

    let later = now + S * 10;
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
    let l = lease(q, later, 10).await;
    assert_eq!(ids(&l), vec![a1]);
    assert_eq!(l[0].attempt, 1);
    ack(q, &l[0], later).await;
    assert_eq!(q.get(a1).await.unwrap().unwrap().attempts.len(), 2);

    let b_window = DeadLetterFilter {
        endpoint_id: Some("ep_b".into()),
        since: Some(now + S * 3),
        before: None,
        reason: None,
    };
    assert_eq!(q.replay_all(&b_window, later, 1).await.unwrap(), (1, true));
    assert_eq!(q.replay_all(&b_window, later, 5).await.unwrap(), (1, false));
    for id in [b2, b3] {
        assert!(matches!(
            q.get(id).await.unwrap().unwrap().state,
            JobState::Scheduled { .. }
        ));
    }
    assert!(
        matches!(
            q.get(b1).await.unwrap().unwrap().state,
            JobState::Dead { .. }
        ),
        "outside the time filter"
    );

    let before = DeadLetterFilter {
        endpoint_id: None,
        since: None,
        before: Some(now + S * 2),
        reason: None,
    };
    assert_eq!(q.purge(&before, 0).await.unwrap(), (0, true), "limit 0");
    assert_eq!(q.purge(&before, 10).await.unwrap(), (1, false), "only a2");
    assert_eq!(q.get(a2).await.unwrap(), None, "purged");
    assert_eq!(
        q.purge(&DeadLetterFilter::all(), 10).await.unwrap(),
        (1, false),
        "b1"
    );
    assert!(
        q.get(live).await.unwrap().is_some(),
        "purge leaves live jobs alone"
    );
    assert_eq!(q.stats(later).await.unwrap().dead, 0);
}

/// Bulk replay and purge select by reason, leaving other reasons' dead letters as they are.
pub async fn replay_and_purge_by_reason<Q: Queue>(q: &Q) {
    let now = t0();
    let gone = kill(q, "ep", "1", now, DeadLetterReason::PermanentStatus(404)).await;
    let spent = kill(q, "ep", "2", now + S, DeadLetterReason::AttemptsExhausted).await;
    let gone2 = kill(
        q,
        "ep",
        "3",
        now + S * 2,
        DeadLetterReason::PermanentStatus(404),
    )
    .await;
    let blocked = kill(q, "ep", "4", now + S * 3, DeadLetterReason::BlockedTarget).await;
    let only = |reason| DeadLetterFilter {
        reason: Some(reason),
        ..DeadLetterFilter::default()
    };
    let later = now + S * 10;
    assert_eq!(
        q.replay_all(&only(DeadLetterReason::AttemptsExhausted), later, 10)
            .await
            .unwrap(),
        (1, false)
    );
    assert!(matches!(
        q.get(spent).await.unwrap().unwrap().state,
        JobState::Scheduled { .. }
    ));
    let not_found = only(DeadLetterReason::PermanentStatus(404));
    assert_eq!(q.purge(&not_found, 1).await.unwrap(), (1, true), "bounded");
    assert_eq!(q.purge(&not_found, 10).await.unwrap(), (1, false));
    assert_eq!(q.get(gone).await.unwrap(), None);
    assert_eq!(q.get(gone2).await.unwrap(), None);
    let left = q
        .dead_letters(&DeadLetterFilter::all(), Page::first(10))
        .await
        .unwrap();
    assert_eq!(
        left.items.iter().map(|r| r.job.id).collect::<Vec<_>>(),
        vec![blocked],
        "other reasons untouched"
    );
}

/// Replaying a disabled endpoint's dead letters says so instead of dead-lettering them again.
pub async fn replay_refuses_a_disabled_endpoint<Q: Queue>(q: &Q) {
    let now = t0();
    let gone = kill(q, "gone", "1", now, DeadLetterReason::EndpointGone).await;
    let other = kill(q, "ok", "2", now, DeadLetterReason::AttemptsExhausted).await;
    let disabled = EndpointState {
        enabled: false,
        reason: Some("endpoint-gone".into()),
        changed_at: Some(now),
        ..EndpointState::default()
    };
    q.set_endpoint_state("gone", disabled).await.unwrap();
    assert!(matches!(
        q.replay(gone, now).await,
        Err(QueueError::EndpointDisabled(ep)) if ep == "gone"
    ));
    assert!(matches!(
        q.replay_all(&DeadLetterFilter::endpoint("gone"), now, 10)
            .await,
        Err(QueueError::EndpointDisabled(_))
    ));
    assert_eq!(
        q.replay_all(&DeadLetterFilter::all(), now, 10)
            .await
            .unwrap(),
        (1, false),
        "an unfiltered replay skips disabled endpoints"
    );
    assert!(matches!(
        q.get(other).await.unwrap().unwrap().state,
        JobState::Scheduled { .. }
    ));
    assert!(matches!(
        q.get(gone).await.unwrap().unwrap().state,
        JobState::Dead { .. }
    ));
}

/// `stats` counts due, scheduled, in-flight and dead jobs at `now`.
pub async fn stats_count_each_state<Q: Queue>(q: &Q) {
    let now = t0();
    kill(q, "ep", "dead", now, DeadLetterReason::AttemptsExhausted).await;
    q.enqueue(job("ep", "flight", now)).await.unwrap();
    let _held = lease(q, now, 1).await;
    q.enqueue(job("ep", "due", now)).await.unwrap();
    q.enqueue(job("ep2", "later", now).scheduled_at(now + S * 10))
        .await
        .unwrap();
    let stats = q.stats(now).await.unwrap();
    assert_eq!(
        (stats.due, stats.scheduled, stats.in_flight, stats.dead),
        (1, 1, 1, 1)
    );
    let stats = q.stats(now + S * 10).await.unwrap();
    assert_eq!((stats.due, stats.scheduled), (2, 0), "due depends on now");

    let delivered = q.enqueue(job("ep3", "done", now)).await.unwrap();
    let per = |due, scheduled, in_flight, dead| QueueStats {
        due,
        scheduled,
        in_flight,
        dead,
    };
    let l = lease(q, now, 10).await;
    for leased in l.iter().filter(|l| l.handle.id == delivered) {
        ack(q, leased, now).await;
    }
    assert_eq!(
        q.endpoint_stats(now).await.unwrap(),
        vec![
            ("ep".to_owned(), per(0, 0, 2, 1)),
            ("ep2".to_owned(), per(0, 1, 0, 0)),
        ],
        "per endpoint, in id order; an endpoint with only delivered jobs is left out"
    );
    assert_eq!(
        q.endpoint_stats(now + S * 10).await.unwrap()[1],
        ("ep2".to_owned(), per(1, 0, 0, 0)),
        "due depends on now"
    );
}

/// Endpoints are enabled and unpaused until set otherwise; the state is stored whole.
pub async fn endpoint_state<Q: Queue>(q: &Q) {
    assert_eq!(
        q.endpoint_state("ep").await.unwrap(),
        EndpointState::default()
    );
    assert!(q.endpoint_states().await.unwrap().is_empty());
    let now = t0();
    let off = EndpointState {
        enabled: false,
        paused_until: Some(now + S),
        reason: Some("operator: überprüfen".into()),
        changed_at: Some(now),
    };
    q.set_endpoint_state("ep", off.clone()).await.unwrap();
    assert_eq!(q.endpoint_state("ep").await.unwrap(), off);
    assert_eq!(
        q.endpoint_state("other").await.unwrap(),
        EndpointState::default()
    );
    q.set_endpoint_state("ep", EndpointState::default())
        .await
        .unwrap();
    assert!(q.endpoint_state("ep").await.unwrap().enabled);
}

/// Prune deletes delivered jobs past the cut, bounded; live jobs and dead letters keep their whole history.
pub async fn prune_removes_finished_jobs_only<Q: Queue>(q: &Q) {
    let now = t0();
    let hour = Duration::from_secs(3600);
    let mut delivered = Vec::new();
    for i in 0..3 {
        let id = q.enqueue(job("ep", &format!("d{i}"), now)).await.unwrap();
        let l = lease(q, now, 1).await.remove(0);
        ack(q, &l, now).await;
        delivered.push(id);
    }
    let retrying = q.enqueue(job("ep", "retrying", now)).await.unwrap();
    let l = lease(q, now, 1).await.remove(0);
    one(
        q,
        now,
        &l.handle,
        Transition::RetryAt {
            at: now + hour * 2,
            attempt: status(1, now, 503),
        },
    )
    .await
    .unwrap();
    let dead_id = kill(q, "ep", "dead", now, DeadLetterReason::AttemptsExhausted).await;
    let fresh = q.enqueue(job("ep", "fresh", now + hour * 2)).await.unwrap();
    for l in lease(q, now + hour * 2, 10).await {
        if l.job.id == fresh {
            ack(q, &l, now + hour * 2).await;
        } else {
            assert_eq!(l.job.id, retrying);
            one(
                q,
                now + hour * 2,
                &l.handle,
                Transition::RetryAt {
                    at: now + hour * 5,
                    attempt: status(2, now + hour * 2, 503),
                },
            )
            .await
            .unwrap();
        }
    }
    assert_eq!(q.prune(now + hour, 2).await.unwrap(), (2, true), "bounded");
    assert_eq!(q.prune(now + hour, 2).await.unwrap(), (1, false));
    for id in &delivered {
        assert_eq!(q.get(*id).await.unwrap(), None);
    }
    assert!(
        q.get(fresh).await.unwrap().is_some(),
        "recent deliveries stay"
    );
    let rec = q.get(retrying).await.unwrap().unwrap();
    assert_eq!(
        rec.attempts.len(),
        2,
        "a live job's history is never pruned"
    );
    assert_eq!(
        q.get(dead_id).await.unwrap().unwrap().attempts.len(),
        1,
        "dead letters keep their history"
    );
    let again = q.enqueue(job("ep", "d0", now + hour * 3)).await.unwrap();
    assert_ne!(
        again, delivered[0],
        "after pruning, the event id is new again"
    );
}

/// Many concurrent leasers: every job is leased exactly once.
pub async fn concurrent_leases_never_share_a_job<Q: Queue>(q: Arc<Q>, options: Options) {
    let now = t0();
    let jobs: Vec<_> = (0..options.jobs)
        .map(|i| job(&format!("ep{}", i % 3), &format!("evt_{i}"), now))
        .collect();
    q.enqueue_many(jobs).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..options.tasks {
        let q = Arc::clone(&q);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let leased = lease(&*q, now, 3).await;
                if leased.is_empty() {
                    break got;
                }
                let batch = leased
                    .iter()
                    .map(|l| {
                        (
                            l.handle.clone(),
                            Transition::Ack {
                                attempt: status(1, now, 200),
                            },
                        )
                    })
                    .collect();
                for r in q.conclude(now, batch).await.unwrap() {
                    r.unwrap();
                }
                got.extend(ids(&leased));
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
    assert_eq!(before, options.jobs, "every job leased");
    assert_eq!(all.len(), options.jobs, "no job leased twice");
}
