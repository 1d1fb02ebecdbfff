//! Throughput of the sender against its HTTP ceiling, in one run: deliveries per second with `MemoryQueue` to a
//! local axum receiver that answers 200 at once (1 KiB payloads), a bare `reqwest` client with the same
//! concurrency posting the same signed bodies to the same receiver, and their ratio; then four endpoints, one
//! rate-limited to 100/s with a 10 000-job backlog, against the same three endpoints without the backlog.
//!
//! Run with: `cargo run --release -p hookguard-sender --example throughput -- [jobs] [workers] [batch]`
//! (defaults: 50000 jobs, 32 slots, batch 4).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookguard::{Scheme, Signer};
use hookguard_sender::{
    DeadLetterFilter, DeadLetterPage, Endpoint, EndpointState, Event, JobId, JobRecord, LeaseBatch,
    LeaseHandle, LeaseOptions, MemoryQueue, NewJob, Page, Progress, Queue, QueueError, QueueStats,
    RateLimit, Sender, Timestamp, Transition,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// `MemoryQueue`, counting lease calls and those that returned a job of `watched`.
#[derive(Debug)]
struct Counting {
    inner: MemoryQueue,
    watched: String,
    leases: AtomicUsize,
    watched_leases: AtomicUsize,
}

impl Queue for Counting {
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<JobId>, QueueError> {
        self.inner.enqueue_many(jobs).await
    }
    async fn lease(
        &self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
        options: &LeaseOptions,
    ) -> Result<LeaseBatch, QueueError> {
        self.leases.fetch_add(1, Ordering::Relaxed);
        let batch = self.inner.lease(now, max, lease_for, options).await?;
        if batch.jobs.iter().any(|l| l.job.endpoint_id == self.watched) {
            self.watched_leases.fetch_add(1, Ordering::Relaxed);
        }
        Ok(batch)
    }
    async fn conclude(
        &self,
        now: Timestamp,
        batch: Vec<(LeaseHandle, Transition)>,
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        self.inner.conclude(now, batch).await
    }
    async fn extend(
        &self,
        handle: &LeaseHandle,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<(), QueueError> {
        self.inner.extend(handle, until, now).await
    }
    async fn reap(&self, now: Timestamp, max: u32, limit: usize) -> Result<Progress, QueueError> {
        self.inner.reap(now, max, limit).await
    }
    async fn expire(
        &self,
        before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        self.inner.expire(before, now, limit).await
    }
    async fn wait_for_work(&self, now: Timestamp, until: Timestamp) {
        self.inner.wait_for_work(now, until).await;
    }
    async fn prune(&self, older_than: Timestamp, limit: usize) -> Result<Progress, QueueError> {
        self.inner.prune(older_than, limit).await
    }
    async fn get(&self, id: JobId) -> Result<Option<JobRecord>, QueueError> {
        self.inner.get(id).await
    }
    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> Result<DeadLetterPage, QueueError> {
        self.inner.dead_letters(filter, page).await
    }
    async fn replay(&self, id: JobId, now: Timestamp) -> Result<(), QueueError> {
        self.inner.replay(id, now).await
    }
    async fn replay_all(
        &self,
        filter: &DeadLetterFilter,
        now: Timestamp,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        self.inner.replay_all(filter, now, limit).await
    }
    async fn purge(&self, filter: &DeadLetterFilter, limit: usize) -> Result<Progress, QueueError> {
        self.inner.purge(filter, limit).await
    }
    async fn stats(&self, now: Timestamp) -> Result<QueueStats, QueueError> {
        self.inner.stats(now).await
    }
    async fn endpoint_stats(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(String, QueueStats)>, QueueError> {
        self.inner.endpoint_stats(now).await
    }
    async fn endpoint_state(&self, id: &str) -> Result<EndpointState, QueueError> {
        self.inner.endpoint_state(id).await
    }
    async fn endpoint_states(&self) -> Result<Vec<(String, EndpointState)>, QueueError> {
        self.inner.endpoint_states().await
    }
    async fn set_endpoint_state(&self, id: &str, state: EndpointState) -> Result<(), QueueError> {
        self.inner.set_endpoint_state(id, state).await
    }
}

fn counting(capacity: usize, watched: &str) -> Counting {
    Counting {
        inner: MemoryQueue::with_capacity(capacity),
        watched: watched.to_owned(),
        leases: AtomicUsize::new(0),
        watched_leases: AtomicUsize::new(0),
    }
}

/// This process's CPU time (user + system) so far, from `/proc/self/stat` (Linux; 100 ticks a second), or
/// `None` elsewhere. On a noisy machine CPU time per request is steadier than wall-clock rates.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the `(comm)`, which may contain spaces: utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn cpu_us_per(start: Option<Duration>, n: usize) -> f64 {
    match (start, cpu_time()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() * 1e6 / n as f64,
        _ => f64::NAN,
    }
}

/// Waits until `endpoint` was served `n` requests; returns how long that took (from the call).
async fn drain(endpoint: &str, n: usize, served: &dashboard::Served) -> Duration {
    let started = Instant::now();
    while served.count(endpoint) < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

mod dashboard {
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Requests served per path (one path per endpoint).
    #[derive(Debug, Default)]
    pub(crate) struct Served(Mutex<HashMap<String, usize>>);

    impl Served {
        pub(crate) fn hit(&self, path: &str) {
            *self.0.lock().unwrap().entry(path.to_owned()).or_default() += 1;
        }
        pub(crate) fn count(&self, endpoint: &str) -> usize {
            self.0
                .lock()
                .unwrap()
                .get(&format!("/{endpoint}"))
                .copied()
                .unwrap_or(0)
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jobs = arg(1, 50_000);
    let workers = arg(2, 32);
    let batch = arg(3, 4);
    let payload = Bytes::from(format!("{{\"data\":\"{}\"}}", "x".repeat(1024 - 11)));
    assert_eq!(payload.len(), 1024);

    let served = Arc::new(dashboard::Served::default());
    let counter = Arc::clone(&served);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let counter = Arc::clone(&counter);
        async move {
            counter.hit(uri.path());
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // 1 and 2, alternating three times so that a noisy neighbour hits both alike: the sender end to end
    // (enqueue `jobs`, then let the engine drain the queue), and the HTTP ceiling: a bare reqwest client,
    // `workers` concurrent tasks posting the same signed bodies (signed beforehand, so the ceiling does not
    // pay for signing) to the same receiver.
    let signer = Signer::new(Scheme::standard_webhooks(), SECRET)?;
    // The crate builds reqwest without a default crypto provider; the sender installs ring, so does this.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    println!("1 endpoint, {jobs} deliveries of 1 KiB, {workers} slots, batch {batch}:");
    let mut ratios = Vec::new();
    for round in 0..3 {
        let path = format!("bench{round}");
        let sender = Sender::builder(counting(jobs + 1, "none"))
            .allow_private_networks()
            .workers(workers)
            .batch(batch)
            .endpoint(
                Endpoint::new(path.clone(), format!("{base}/{path}"), SECRET)
                    .with_max_in_flight(workers),
            )
            .build()?;
        for _ in 0..jobs {
            sender
                .send(&path, Event::new("bench.event", payload.clone()))
                .await?;
        }
        let cpu = cpu_time();
        let running = sender.spawn();
        let took = drain(&path, jobs, &served).await;
        let sender_cpu = cpu_us_per(cpu, jobs);
        running.shutdown(Duration::from_secs(5)).await;
        let sender_rate = jobs as f64 / took.as_secs_f64();
        let leases = sender.queue().leases.load(Ordering::Relaxed);

        let url = format!("{base}/ceiling{round}");
        let per_task = jobs / workers;
        let mut signed = Vec::with_capacity(workers);
        for w in 0..workers {
            let mut mine = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let id = format!("msg_{w:04}_{i:08}");
                mine.push(signer.sign(&id, Timestamp::now().as_unix_seconds(), &payload)?);
            }
            signed.push(mine);
        }
        let cpu = cpu_time();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for mine in signed {
            let (client, url, payload) = (client.clone(), url.clone(), payload.clone());
            tasks.push(tokio::spawn(async move {
                for headers in mine {
                    let r = client
                        .post(&url)
                        .headers(headers)
                        .header("content-type", "application/json")
                        .body(payload.clone())
                        .send()
                        .await
                        .expect("post");
                    std::hint::black_box(r.bytes().await.expect("body"));
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        let ceiling = (per_task * workers) as f64 / started.elapsed().as_secs_f64();
        let ceiling_cpu = cpu_us_per(cpu, per_task * workers);
        let ratio = 100.0 * sender_rate / ceiling;
        let cpu_ratio = 100.0 * ceiling_cpu / sender_cpu;
        println!(
            "  round {}: sender {sender_rate:>6.0}/s ({sender_cpu:.1} µs CPU each, {leases} lease calls), \
             bare reqwest {ceiling:>6.0}/s ({ceiling_cpu:.1} µs CPU each): {ratio:.1} % by rate, \
             {cpu_ratio:.1} % by CPU",
            round + 1
        );
        ratios.push((ratio, cpu_ratio));
    }
    let mut by_rate: Vec<f64> = ratios.iter().map(|r| r.0).collect();
    let mut by_cpu: Vec<f64> = ratios.iter().map(|r| r.1).collect();
    by_rate.sort_by(f64::total_cmp);
    by_cpu.sort_by(f64::total_cmp);
    println!(
        "  median: {:.1} % of the HTTP ceiling by rate, {:.1} % by CPU per request (target ≥ 80 %)",
        by_rate[1], by_cpu[1]
    );

    // 3. Four endpoints: three unlimited ones, without and then beside a rate-limited one (100/s) holding
    // a 10 000-job backlog.
    let each = jobs / 3;
    let fast = ["fast1", "fast2", "fast3"];
    let endpoints = |limited: bool| {
        let mut eps: Vec<Endpoint> = fast
            .iter()
            .map(|e| {
                Endpoint::new(*e, format!("{base}/{e}"), SECRET).with_max_in_flight(workers / 4)
            })
            .collect();
        if limited {
            eps.push(
                Endpoint::new("limited", format!("{base}/limited"), SECRET)
                    .with_rate_limit(RateLimit::new(100.0, batch as u32))
                    .with_max_in_flight(workers / 4),
            );
        }
        eps
    };
    let mut rates = Vec::new();
    for (run, with_backlog) in [("alone", false), ("beside the backlog", true)] {
        let sender = Sender::builder(counting(each * 3 + 10_001, "limited"))
            .allow_private_networks()
            .workers(workers)
            .batch(batch)
            .endpoints(endpoints(with_backlog))
            .build()?;
        if with_backlog {
            for _ in 0..10_000 {
                sender
                    .send("limited", Event::new("bench.event", payload.clone()))
                    .await?;
            }
        }
        // Every fast endpoint's path counts from zero in this run.
        let base_counts: Vec<usize> = fast.iter().map(|e| served.count(e)).collect();
        for _ in 0..each {
            for e in fast {
                sender
                    .send(e, Event::new("bench.event", payload.clone()))
                    .await?;
            }
        }
        let limited_before = served.count("limited");
        let running = sender.spawn();
        let started = Instant::now();
        loop {
            let done = fast
                .iter()
                .zip(&base_counts)
                .all(|(e, b)| served.count(e) - b >= each);
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let took = started.elapsed();
        running.shutdown(Duration::from_secs(5)).await;
        let rate = (each * 3) as f64 / took.as_secs_f64();
        let q = sender.queue();
        let limited_leases = q.watched_leases.load(Ordering::Relaxed) as f64 / took.as_secs_f64();
        let limited_done = served.count("limited") - limited_before;
        let all_leases = q.leases.load(Ordering::Relaxed);
        println!(
            "4 endpoints, {run}: 3 × {each} deliveries at {rate:.0}/s in {:.2} s, {all_leases} lease calls \
             ({:.0}/s); the limited endpoint: {limited_done} delivered, in {limited_leases:.1} lease calls/s",
            took.as_secs_f64(),
            all_leases as f64 / took.as_secs_f64(),
        );
        rates.push(rate);
    }
    println!(
        "  the three beside the backlog keep {:.1} % of their rate alone (target ≥ 90 %)",
        100.0 * rates[1] / rates[0]
    );
    Ok(())
}
