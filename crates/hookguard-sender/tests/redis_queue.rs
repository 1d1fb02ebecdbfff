//! `RedisQueue` against a real Redis (`REDIS_URL`): the conformance suite (one handle, and two independently
//! connected handles on one prefix), cross-process wake-ups by pub/sub, deadlines on the server's clock, and
//! the ready-set invariant (a held-back endpoint's backlog is never scanned). Then, on a private
//! `redis-server` this test starts on a unix socket of its own with `appendfsync always`: jobs survive
//! `kill -9` of the server, and a sender delivering a few hundred jobs carries on through a restart of it,
//! losing none. Skipped with a printed line when `REDIS_URL` (or `redis-server`) is missing, failed instead
//! when `HOOKGUARD_REQUIRE_BACKENDS=1`. Every test uses its own prefix and deletes its keys at the end.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookguard::{Scheme, Verifier};
use hookguard_sender::{
    BoxedQueue, DeadLetterFilter, Event, JobId, JobState, LeaseOptions, LeaseToken, NewJob, Page,
    Queue, RedisQueue, RetryPolicy, Sender, TimeSource, Timestamp, conformance,
};

const S: Duration = Duration::from_secs(1);

fn redis_url(test: &str) -> Option<String> {
    common::backend_url("REDIS_URL", test)
}

/// A prefix no other test or run uses.
fn unique_prefix() -> String {
    let hex: String = LeaseToken::random().as_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("hookguard-test:{hex}")
}

async fn queue(url: &str, prefix: &str, time: TimeSource) -> RedisQueue {
    RedisQueue::connect(url)
        .await
        .expect("connect to Redis")
        .prefix(prefix)
        .expect("a valid prefix")
        .time_source(time)
        // Generous: the concurrent checks queue many scripts on one connection of a loaded machine.
        .timeout(S * 30)
}

/// Deletes the keys of the queues under its prefixes when dropped, so also when a test fails.
struct DeleteKeys {
    url: String,
    prefixes: Arc<Mutex<Vec<String>>>,
}

impl DeleteKeys {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefixes: Arc::default(),
        }
    }

    /// A fresh prefix whose keys are deleted at the end.
    fn prefix(&self) -> String {
        let prefix = unique_prefix();
        self.prefixes.lock().unwrap().push(prefix.clone());
        prefix
    }
}

impl Drop for DeleteKeys {
    fn drop(&mut self) {
        // Blocking, on a connection of its own: a drop cannot await, and this runs once per test.
        let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let prefixes =
            std::mem::take(&mut *self.prefixes.lock().unwrap_or_else(|e| e.into_inner()));
        for prefix in prefixes {
            let pattern = format!("{{{prefix}}}:*");
            let mut cursor = 0_u64;
            loop {
                let Ok((next, keys)) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query::<(u64, Vec<String>)>(&mut conn)
                else {
                    break;
                };
                if !keys.is_empty() {
                    let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query(&mut conn);
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
    }
}

fn job(endpoint: &str, event: &str, now: Timestamp) -> NewJob {
    NewJob::new(
        endpoint,
        event,
        "test.event",
        Bytes::from_static(b"{}"),
        now,
    )
    .unwrap()
}

#[test]
fn types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_send_sync::<RedisQueue>();
    fn assert_sender<T: Send + Sync>() {}
    assert_sender::<Sender<RedisQueue>>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_queue_conforms() {
    let Some(url) = redis_url("redis_queue_conforms") else {
        return;
    };
    let keys = DeleteKeys::new(&url);
    let heavy = conformance::Options {
        jobs: 1000,
        tasks: 8,
    };
    conformance::run_with(
        || {
            let (url, prefix) = (url.clone(), keys.prefix());
            async move { queue(&url, &prefix, TimeSource::Caller).await }
        },
        heavy,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_redis_queues_on_one_prefix_conform() {
    let Some(url) = redis_url("two_redis_queues_on_one_prefix_conform") else {
        return;
    };
    let keys = DeleteKeys::new(&url);
    let prefix = keys.prefix();
    conformance::run_shared(|| async {
        (
            queue(&url, &prefix, TimeSource::Caller).await,
            queue(&url, &prefix, TimeSource::Caller).await,
        )
    })
    .await;
}

/// Whether `waiter`, waiting with a deadline 30 s away, is woken within 10 s while `enqueuer` (another
/// instance: no local wake-up) enqueues a due job every 100 ms. Its subscriber starts with its first wait,
/// or is still reconnecting: a wake-up published before it subscribed is lost, hence the repeats.
async fn wakes<W: Queue + Clone>(waiter: W, enqueuer: &RedisQueue, tag: &str) -> bool {
    let now = Timestamp::now();
    let waiting = tokio::spawn(async move {
        tokio::time::timeout(S * 10, waiter.wait_for_work(now, now + S * 30))
            .await
            .is_ok()
    });
    let mut i = 0;
    while !waiting.is_finished() {
        let at = Timestamp::now();
        until_available(|| enqueuer.enqueue(job("wake", &format!("{tag}_{i}"), at))).await;
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    waiting.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_through_one_instance_wakes_a_waiter_on_another() {
    let Some(url) = redis_url("an_enqueue_through_one_instance_wakes_a_waiter_on_another") else {
        return;
    };
    let keys = DeleteKeys::new(&url);
    let prefix = keys.prefix();
    // Through the `dyn` adapter, as `examples/sender.rs --queue redis://…` runs it.
    let waiter = BoxedQueue::new(queue(&url, &prefix, TimeSource::Server).await);
    let enqueuer = queue(&url, &prefix, TimeSource::Server).await;
    let woken = wakes(waiter, &enqueuer, "wake").await;
    assert!(
        woken,
        "the waiter was not woken within 10 s by another instance's enqueue"
    );
}

#[tokio::test]
async fn deadlines_are_judged_on_the_servers_clock_by_default() {
    let Some(url) = redis_url("deadlines_are_judged_on_the_servers_clock_by_default") else {
        return;
    };
    let keys = DeleteKeys::new(&url);
    let prefix = keys.prefix();
    let q = queue(&url, &prefix, TimeSource::Server).await;
    let real = Timestamp::now();
    let id = q.enqueue(job("ep", "skewed", real)).await.unwrap();
    // A caller whose clock is an hour slow still finds the job due, and leases it on the server's clock.
    let slow = real - S * 3600;
    let lease = Duration::from_secs(60);
    let got = q
        .lease(slow, 10, lease, &LeaseOptions::all())
        .await
        .unwrap();
    assert_eq!(got.jobs.len(), 1, "due on the server's clock");
    let JobState::InFlight { until } = q.get(id).await.unwrap().unwrap().state else {
        panic!("leased")
    };
    assert!(
        until >= real + lease - S * 5,
        "the deadline is the server's now + lease, not the slow caller's: {until} vs {real}"
    );
    // A caller whose clock is a day fast does not reap a live lease.
    let fast = real + S * 86_400;
    assert_eq!(q.reap(fast, 3, 100).await.unwrap(), (0, false));
    // Extending from the slow clock by 10 minutes moves the deadline 10 minutes past the server's now.
    q.extend(&got.jobs[0].handle, slow + S * 600, slow)
        .await
        .unwrap();
    let JobState::InFlight { until } = q.get(id).await.unwrap().unwrap().state else {
        panic!("still leased")
    };
    assert!(
        until >= real + S * 595,
        "relative to the server's clock: {until}"
    );
    // A job from an enqueuer whose clock is an hour fast is due at once, not in an hour; one scheduled a
    // minute after its creation is due a minute after the server's now.
    let fast_now = real + S * 3600;
    let now_job = q.enqueue(job("ep2", "fast", fast_now)).await.unwrap();
    let later_job = q
        .enqueue(job("ep2", "fast_later", fast_now).scheduled_at(fast_now + S * 60))
        .await
        .unwrap();
    let got = q
        .lease(real, 10, lease, &LeaseOptions::all())
        .await
        .unwrap();
    assert_eq!(
        got.jobs.iter().map(|l| l.job.id).collect::<Vec<_>>(),
        vec![now_job]
    );
    let JobState::Scheduled { due_at } = q.get(later_job).await.unwrap().unwrap().state else {
        panic!("scheduled")
    };
    assert!(
        due_at < real + S * 120,
        "due a minute after the server's now: {due_at}"
    );
    assert_eq!(
        q.get(now_job).await.unwrap().unwrap().job.created_at,
        fast_now
    );
}

#[tokio::test]
async fn a_held_back_endpoints_backlog_is_never_scanned() {
    let Some(url) = redis_url("a_held_back_endpoints_backlog_is_never_scanned") else {
        return;
    };
    let keys = DeleteKeys::new(&url);
    let prefix = keys.prefix();
    let q = queue(&url, &prefix, TimeSource::Caller).await;
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    for chunk in 0..10 {
        let jobs = (0..1000)
            .map(|i| job("big", &format!("b{chunk}_{i}"), now))
            .collect();
        q.enqueue_many(jobs).await.unwrap();
    }
    let small = q
        .enqueue_many(vec![
            job("small", "s0", now + S),
            job("small", "s1", now + S),
        ])
        .await
        .unwrap();
    q.enqueue(job("later", "l0", now).scheduled_at(now + S * 50))
        .await
        .unwrap();
    let at = now + S * 2;

    let mut held = LeaseOptions::all();
    held.exclude.insert("big".into());
    let (batch, visited) = q
        .lease_counting_visits(at, 10, S * 60, &held)
        .await
        .unwrap();
    assert_eq!(
        batch.jobs.iter().map(|l| l.job.id).collect::<Vec<JobId>>(),
        small,
        "only the admitted endpoint's due jobs, in order"
    );
    assert_eq!(
        batch.next_due,
        Some(now + S * 50),
        "next_due skips the excluded backlog: the later endpoint's job"
    );
    assert!(
        visited <= 10,
        "the 10 000 excluded jobs were not scanned: {visited} members visited"
    );

    // Capped at zero is the same; a cap of 3 takes 3 of the backlog and scans no further.
    let mut capped = LeaseOptions::all();
    capped.caps.insert("big".into(), 3);
    let (batch, visited) = q
        .lease_counting_visits(at, 100, S * 60, &capped)
        .await
        .unwrap();
    assert_eq!(batch.jobs.len(), 3);
    assert!(batch.jobs.iter().all(|l| l.job.endpoint_id == "big"));
    assert_eq!(batch.next_due, Some(now + S * 50));
    assert!(visited <= 10, "{visited} members visited");
    let stats = q.stats(at).await.unwrap();
    assert_eq!((stats.due, stats.in_flight), (9_997, 5));

    // Many endpoints with backlogs: one call reads about `max` of their jobs, not `max` from each.
    let wide = queue(&url, &keys.prefix(), TimeSource::Caller).await;
    for e in 0..40 {
        let jobs = (0..40)
            .map(|i| job(&format!("w{e:02}"), &format!("j{i}"), now))
            .collect();
        wide.enqueue_many(jobs).await.unwrap();
    }
    let (batch, visited) = wide
        .lease_counting_visits(now, 40, S * 60, &LeaseOptions::all())
        .await
        .unwrap();
    let endpoints: HashSet<_> = batch
        .jobs
        .iter()
        .map(|l| l.job.endpoint_id.clone())
        .collect();
    assert_eq!(
        (batch.jobs.len(), endpoints.len()),
        (40, 40),
        "one from each"
    );
    assert!(
        visited <= 100,
        "40 ready endpoints and about 40 of their 1600 jobs: {visited} members visited"
    );
}

#[tokio::test]
async fn a_bad_prefix_is_refused() {
    let Some(url) = redis_url("a_bad_prefix_is_refused") else {
        return;
    };
    for bad in ["", "a{b", "a}b", "line\nbreak"] {
        let q = RedisQueue::connect(&url).await.unwrap();
        assert!(
            matches!(
                q.prefix(bad),
                Err(hookguard_sender::QueueError::InvalidConfig(_))
            ),
            "{bad:?}"
        );
    }
    let q = RedisQueue::connect(&url)
        .await
        .unwrap()
        .prefix("tenant-a:hooks")
        .unwrap();
    assert_eq!(q.key_prefix(), "{tenant-a:hooks}");
    assert_eq!(q.channel(), "{tenant-a:hooks}:wake");
    assert!(matches!(
        RedisQueue::connect("not a url").await,
        Err(hookguard_sender::QueueError::InvalidConfig(_))
    ));
}

// ---- a private redis-server, persisted with appendfsync always ----

fn required() -> bool {
    std::env::var("HOOKGUARD_REQUIRE_BACKENDS").as_deref() == Ok("1")
}

/// A `redis-server` of this test's own, listening only on a unix socket in `dir` (no TCP port another test
/// could take), with its AOF in `dir`, fsynced on every write.
struct PrivateRedis {
    child: Child,
}

impl PrivateRedis {
    fn socket(dir: &std::path::Path) -> PathBuf {
        dir.join("redis.sock")
    }

    /// The URL of the server in `dir`.
    fn url(dir: &std::path::Path) -> String {
        format!("redis+unix://{}", Self::socket(dir).display())
    }

    fn start(dir: &std::path::Path, test: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let socket = Self::socket(dir);
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocketperm", "700"])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--maxmemory-policy", "noeviction"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(_) if !required() => {
                eprintln!("{test}: skipped, no redis-server on the PATH");
                return None;
            }
            Err(error) => {
                panic!("HOOKGUARD_REQUIRE_BACKENDS=1 but redis-server cannot start: {error}")
            }
        };
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "redis-server exited at start"
            );
            assert!(
                started.elapsed() < S * 20,
                "redis-server did not start on {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { child })
    }

    /// `kill -9`: no shutdown, no final fsync.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let hex: String = LeaseToken::random().as_bytes()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self(std::env::temp_dir().join(format!("hookguard-redis-queue-{hex}")))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Retries `f` while the queue is unavailable (the server restarting, loading its AOF), within 30 s.
async fn until_available<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, hookguard_sender::QueueError>>,
{
    let started = Instant::now();
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if e.is_transient() && started.elapsed() < S * 30 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the queue did not come back: {e:?}"),
        }
    }
}

#[tokio::test]
async fn jobs_survive_a_kill_9_of_the_server() {
    let dir = TempDir::new();
    let test = "jobs_survive_a_kill_9_of_the_server";
    let Some(server) = PrivateRedis::start(&dir.0, test) else {
        return;
    };
    let url = PrivateRedis::url(&dir.0);
    let q = queue(&url, "durable", TimeSource::Caller)
        .await
        .timeout(S * 2);
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    let mut ids = Vec::new();
    for i in 0..50_u32 {
        let payload: Vec<u8> = (0..=255).cycle().skip(i as usize).take(300).collect();
        let job = NewJob::new("ep", format!("evt_{i}"), "t", Bytes::from(payload), now)
            .unwrap()
            .scheduled_at(now + S * i);
        ids.push(q.enqueue(job).await.unwrap());
    }
    let leased = q
        .lease(now + S * 5, 3, S * 60, &LeaseOptions::all())
        .await
        .unwrap();
    assert_eq!(leased.jobs.len(), 3);
    let other = queue(&url, "durable", TimeSource::Caller)
        .await
        .timeout(S * 2);
    assert!(
        wakes(q.clone(), &other, "before").await,
        "subscribed before the crash"
    );
    let before = q.stats(now + S * 5).await.unwrap();

    server.kill();
    let _server = PrivateRedis::start(&dir.0, test).expect("restarted");
    let after = until_available(|| q.stats(now + S * 5)).await;
    assert_eq!(after, before, "every job is still there, in its state");
    for (i, id) in ids.iter().enumerate() {
        let rec = q.get(*id).await.unwrap().expect("the job survived");
        let payload: Vec<u8> = (0..=255).cycle().skip(i).take(300).collect();
        assert_eq!(rec.job.payload, Bytes::from(payload));
    }
    // The leases survived too: their handles still conclude after the restart.
    let results = q
        .conclude(
            now + S * 6,
            leased
                .jobs
                .iter()
                .map(|l| (l.handle.clone(), hookguard_sender::Transition::Release))
                .collect(),
        )
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let again = q.enqueue(job("ep", "evt_0", now)).await.unwrap();
    assert_eq!(again, ids[0], "the event-id index survived");
    let fresh = q.enqueue(job("ep", "new", now)).await.unwrap();
    assert!(
        fresh.0 > ids.iter().map(|i| i.0).max().unwrap(),
        "ids are not reused"
    );
    assert!(
        wakes(q.clone(), &other, "after").await,
        "the wake-up subscriber reconnected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_carries_on_through_a_restart_of_the_server() {
    let dir = TempDir::new();
    let test = "a_sender_carries_on_through_a_restart_of_the_server";
    let Some(server) = PrivateRedis::start(&dir.0, test) else {
        return;
    };
    let url = PrivateRedis::url(&dir.0);
    let q = queue(&url, "restart", TimeSource::Server)
        .await
        .timeout(S * 2);
    let verifier = Verifier::new(Scheme::standard_webhooks(), common::KEY).unwrap();
    let rx = common::Receiver::start_with(
        "rx",
        verifier,
        [],
        // A little slow, so that the restart comes while most jobs are still to deliver.
        common::Reply::Slow(Duration::from_millis(10)),
        common::EventLog::default(),
    )
    .await;
    let sender = Sender::builder(q.clone())
        .allow_private_networks()
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(50),
            2.0,
            S,
            30,
        ))
        .lease(S * 10)
        .reap_interval(Duration::from_millis(500))
        .workers(8)
        .endpoint(common::endpoint("ep", &rx.url()))
        .build()
        .unwrap();
    let total = 300;
    for i in 0..total {
        sender
            .send("ep", Event::new("t", "{}").with_id(format!("evt_{i}")))
            .await
            .unwrap();
    }
    let workers = sender.spawn();
    let delivered = |rx: &common::Receiver| {
        rx.requests()
            .iter()
            .filter(|r| r.verified.is_ok())
            .map(|r| r.header("webhook-id").to_owned())
            .collect::<HashSet<_>>()
            .len()
    };
    let started = Instant::now();
    while delivered(&rx) < total / 3 {
        assert!(started.elapsed() < S * 60, "deliveries did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(delivered(&rx) < total, "the restart comes mid-run");
    server.kill();
    // Down for a moment: workers' calls fail (longer than the sender's own retries of one call); then the
    // same server and data come back.
    tokio::time::sleep(S).await;
    let _server = PrivateRedis::start(&dir.0, test).expect("restarted");
    let started = Instant::now();
    while delivered(&rx) < total {
        assert!(
            started.elapsed() < S * 90,
            "only {} of {total} events delivered after the restart",
            delivered(&rx)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every job ends delivered (the ones whose acks were lost in the crash are delivered again once their
    // lease lapses), and nothing dead-lettered.
    let started = Instant::now();
    loop {
        let stats = until_available(|| q.stats(Timestamp::now())).await;
        assert_eq!(stats.dead, 0, "no dead letters");
        if stats.due + stats.scheduled + stats.in_flight == 0 {
            break;
        }
        assert!(started.elapsed() < S * 60, "jobs left: {stats:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = q
        .dead_letters(&DeadLetterFilter::all(), Page::first(10))
        .await
        .unwrap();
    assert!(dead.items.is_empty());
    workers.shutdown(S * 5).await;
}

#[tokio::test]
async fn big_batches_lease_in_bounded_steps_and_conclude_in_one_call() {
    let Some(url) = redis_url("big_batches_lease_in_bounded_steps_and_conclude_in_one_call") else {
        return;
    };
    let keys = DeleteKeys::new(&url);
    let prefix = keys.prefix();
    let q = queue(&url, &prefix, TimeSource::Caller).await;
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    // 5000 acks are 10 000 score/member arguments: more than one `unpack` may take at once.
    let total = 5000;
    let jobs = (0..total)
        .map(|i| job("ep", &format!("e{i}"), now))
        .collect();
    q.enqueue_many(jobs).await.unwrap();
    let mut leased = Vec::new();
    while leased.len() < total {
        let batch = q
            .lease(now, 5000, S * 60, &LeaseOptions::all())
            .await
            .unwrap();
        assert!(batch.jobs.len() <= RedisQueue::MAX_LEASE);
        if leased.len() + batch.jobs.len() < total {
            assert!(
                batch.next_due.is_some_and(|d| d <= now),
                "stopped at the bound: more is due now"
            );
        }
        leased.extend(batch.jobs);
    }
    let attempt = |l: &hookguard_sender::Leased| {
        hookguard_sender::Attempt::new(
            l.attempt,
            now,
            hookguard_sender::AttemptResult::Status(200),
            Duration::from_millis(3),
        )
    };
    let batch = leased
        .iter()
        .map(|l| {
            (
                l.handle.clone(),
                hookguard_sender::Transition::Ack {
                    attempt: attempt(l),
                },
            )
        })
        .collect();
    let results = q.conclude(now, batch).await.unwrap();
    assert_eq!(results.len(), total);
    assert!(results.iter().all(Result::is_ok));
    let stats = q.stats(now).await.unwrap();
    assert_eq!((stats.due, stats.in_flight), (0, 0));
    assert_eq!(
        q.prune(now + S, 10_000).await.unwrap(),
        (total, false),
        "all delivered"
    );
}

#[tokio::test]
async fn endpoint_filters_match_exactly_one_endpoint_whatever_its_id() {
    let Some(url) = redis_url("endpoint_filters_match_exactly_one_endpoint_whatever_its_id") else {
        return;
    };
    let keys = DeleteKeys::new(&url);
    let prefix = keys.prefix();
    let q = queue(&url, &prefix, TimeSource::Caller).await;
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    // Ids that are key separators or look like the scripts' own arguments.
    let endpoints = ["a", "a:b", "=a", "dead", "tenant 1/ü"];
    for ep in endpoints {
        q.enqueue(job(ep, "e", now)).await.unwrap();
    }
    let leased = q
        .lease(now, 10, S * 60, &LeaseOptions::all())
        .await
        .unwrap();
    assert_eq!(leased.jobs.len(), endpoints.len());
    let batch = leased
        .jobs
        .iter()
        .map(|l| {
            (
                l.handle.clone(),
                hookguard_sender::Transition::DeadLetter {
                    reason: hookguard_sender::DeadLetterReason::AttemptsExhausted,
                    attempt: None,
                    disable_endpoint: false,
                },
            )
        })
        .collect();
    assert!(
        q.conclude(now, batch)
            .await
            .unwrap()
            .iter()
            .all(Result::is_ok)
    );
    for ep in endpoints {
        let page = q
            .dead_letters(&DeadLetterFilter::endpoint(ep), Page::first(10))
            .await
            .unwrap();
        let got: Vec<_> = page
            .items
            .iter()
            .map(|r| r.job.endpoint_id.as_str())
            .collect();
        assert_eq!(got, vec![ep], "the filter {ep:?}");
    }
    let none = DeadLetterFilter::endpoint("");
    assert!(
        q.dead_letters(&none, Page::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(q.replay_all(&none, now, 10).await.unwrap(), (0, false));
    assert_eq!(q.purge(&none, 10).await.unwrap(), (0, false));
    assert_eq!(
        q.purge(&DeadLetterFilter::endpoint("a:b"), 10)
            .await
            .unwrap(),
        (1, false)
    );
    assert_eq!(q.stats(now).await.unwrap().dead, 4);
    assert_eq!(
        q.endpoint_state("").await.unwrap(),
        hookguard_sender::EndpointState::default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_instances_leasing_at_once_get_each_job_exactly_once() {
    let Some(url) = redis_url("four_instances_leasing_at_once_get_each_job_exactly_once") else {
        return;
    };
    let keys = DeleteKeys::new(&url);
    let prefix = keys.prefix();
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    let total = 2000;
    let first = queue(&url, &prefix, TimeSource::Caller).await;
    let jobs = (0..total)
        .map(|i| job(&format!("ep{}", i % 7), &format!("e{i}"), now))
        .collect();
    first.enqueue_many(jobs).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..4 {
        // Independently connected, as separate processes would be; capped differently per endpoint.
        let q = queue(&url, &prefix, TimeSource::Caller).await;
        tasks.push(tokio::spawn(async move {
            let mut options = LeaseOptions::all();
            options.default_cap = 2 + n;
            let mut got = Vec::new();
            loop {
                let batch = q.lease(now, 8, S * 60, &options).await.unwrap();
                if batch.jobs.is_empty() {
                    break got;
                }
                let acks = batch
                    .jobs
                    .iter()
                    .map(|l| {
                        (
                            l.handle.clone(),
                            hookguard_sender::Transition::Ack {
                                attempt: hookguard_sender::Attempt::new(
                                    1,
                                    now,
                                    hookguard_sender::AttemptResult::Status(200),
                                    Duration::ZERO,
                                ),
                            },
                        )
                    })
                    .collect();
                for r in q.conclude(now, acks).await.unwrap() {
                    r.unwrap();
                }
                got.extend(batch.jobs.iter().map(|l| l.job.id));
            }
        }));
    }
    let mut all = Vec::new();
    let mut each = Vec::new();
    for t in tasks {
        let got = t.await.unwrap();
        each.push(got.len());
        all.extend(got);
    }
    assert_eq!(all.len(), total, "every job leased once: {each:?}");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "no job leased twice");
    let stats = first.stats(now).await.unwrap();
    assert_eq!((stats.due, stats.in_flight, stats.dead), (0, 0, 0));
}
